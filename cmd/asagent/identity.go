package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/cloud"
	"github.com/asagent/asagent/internal/config"
)

func runIdentity(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "identity", "[--config FILE] [--timeout DURATION]")
	path := addConfigFlag(fs)
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long (the metadata service may take a while at boot)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, code, ok := loadConfig(cio, *path)
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log := zerolog.New(zerolog.ConsoleWriter{Out: cio.stderr, NoColor: true}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	return identity(ctx, cio.stdout, cfg, os.Getenv, clockwork.NewRealClock(), log)
}

// identity prints what the agent sees and checks every API it needs.
// It returns exitOK when everything is usable and exitFailed otherwise.
func identity(ctx context.Context, out io.Writer, cfg *config.Config, getenv func(string) string, clk clockwork.Clock, log zerolog.Logger) int {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	defer w.Flush()
	line := func(k, format string, a ...any) { fmt.Fprintf(w, "%s:\t%s\n", k, fmt.Sprintf(format, a...)) }
	bad := 0
	fail := func(k string, err error) { bad++; line(k, "FAILED: %v", err) }
	finish := func() int {
		if bad > 0 {
			line("result", "NOT usable (%s)", plural(bad, "problem"))
			return exitFailed
		}
		line("result", "usable")
		return exitOK
	}

	// Bound the metadata service's retries to half the time, leaving the
	// rest for AS.
	idCtx, idCancel := context.WithTimeout(ctx, remaining(ctx)/2)
	defer idCancel()
	s, err := cloud.New(idCtx, cfg, getenv, clk, log, nil)
	if s != nil && s.Metadata != nil {
		line("metadata service", "%s", s.Metadata.Endpoint())
	}
	if s == nil {
		fail("setup", err)
		return finish()
	}
	line("instance", "%s", orUnknown(s.InstanceID, s.InstanceFrom))
	line("project", "%s", orUnknown(s.ProjectID, s.ProjectFrom))
	line("region", "%s", orUnknown(s.Region, s.RegionFrom))
	if s.AZ != "" {
		line("availability zone", "%s", s.AZ)
	}
	if s.MetadataErr != nil {
		line("metadata", "not answering: %v", s.MetadataErr)
	}
	if err != nil {
		fail("setup", err)
		return finish()
	}
	creds, cerr := s.Creds.Credentials(ctx)
	if cerr != nil {
		fail("credentials", cerr)
	} else {
		line("credentials", "%s", creds)
	}
	line("AS endpoint", "%s (%s)", s.AS.Endpoint(), s.ASEndpointFrom)
	line("AS proxy", "%s", s.AS.Proxy())
	if cerr != nil {
		return finish()
	}

	d, err := s.AS.DiscoverGroup(ctx, s.Discover)
	if err != nil {
		fail("scaling group", err)
		line("AS clock", "%s", clockLine(s.AS))
		return finish()
	}
	name := ""
	if d.GroupName != "" {
		name = " " + d.GroupName
	}
	line("scaling group", "%s%s (%s)", d.GroupID, name, foundHow(d.Source))

	hooks, err := s.AS.ListHooks(ctx, d.GroupID)
	if err != nil {
		fail("API list hooks", err)
	} else {
		var names []string
		for _, h := range hooks {
			names = append(names, fmt.Sprintf("%s %s default %s after %v", h.Name, h.Type, h.DefaultResult, h.DefaultTimeout))
		}
		line("API list hooks", "ok, %d hooks%s", len(hooks), listSuffix(names))
	}
	held, err := s.AS.HeldHooks(ctx, d.GroupID, s.InstanceID)
	if err != nil {
		fail("API list hanging", err)
	} else {
		var names []string
		for _, h := range held {
			dl, derr := h.Deadline()
			if derr != nil {
				bad++
				names = append(names, fmt.Sprintf("%s (timeout unreadable: %v)", h.HookName, derr))
				continue
			}
			names = append(names, fmt.Sprintf("%s until %s", h.HookName, dl.Format(time.RFC3339)))
		}
		line("API list hanging", "ok, %d holding this instance%s", len(held), listSuffix(names))
	}
	line("AS clock", "%s", clockLine(s.AS))
	return finish()
}

// clockLine says how AS's clock compares with this instance's, from the
// Date headers of the answers so far.
func clockLine(c *asclient.Client) string {
	off, ok := c.ClockOffset()
	switch {
	case !ok:
		return "unknown (no answer from AS)"
	case off == 0:
		return "agrees with this instance's clock"
	case off > asclient.ClockWarnOffset || off < -asclient.ClockWarnOffset:
		return fmt.Sprintf("offset %v: this instance's clock is off (check NTP); the agent reads hook deadlines by AS's clock", off)
	}
	return fmt.Sprintf("offset %v (within the Date header's precision and the round trip)", off)
}

// foundHow says how discovery found the group, for people.
func foundHow(source string) string {
	switch source {
	case asclient.FoundByConfig:
		return "from cloud.scaling_group_id"
	case asclient.FoundByCache:
		return "from the cache, confirmed by AS"
	case asclient.FoundBySearch:
		return "discovered by listing the project's groups"
	}
	return source
}

func listSuffix(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return ": " + strings.Join(items, "; ")
}

func orUnknown(v, from string) string {
	if v == "" {
		return "unknown"
	}
	return v + " (" + from + ")"
}

// remaining is how long ctx has left, or a minute when it has no deadline.
func remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return time.Minute
}
