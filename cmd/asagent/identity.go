package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/version"
)

// groupCacheFile is the scaling group cache's name inside state_dir.
const groupCacheFile = "scaling-group.json"

// Where a value came from, as `asagent identity` prints it.
const (
	fromConfig   = "config"
	fromEnv      = "environment"
	fromMetadata = "metadata service"
	fromRegion   = "SDK region table"
	fromAZ       = "derived from the availability zone"
)

// cloudSetup is everything the agent needs to talk to the cloud, with where
// each part came from. The service command builds the same with newCloud.
type cloudSetup struct {
	InstanceID, ProjectID, Region, AZ     string
	InstanceFrom, ProjectFrom, RegionFrom string
	Metadata                              *metadata.Client
	MetadataErr                           error // set when the service was needed and did not answer
	Creds                                 metadata.Provider
	AS                                    *asclient.Client
	ASEndpointFrom                        string
	Discover                              asclient.DiscoverOptions
}

// newCloud maps cfg onto the metadata and AS clients. Configured values win;
// the SDK's environment variables come next for credentials and project;
// the metadata service fills in the rest (and is only asked when something
// is missing). identityCtx bounds the metadata service's boot-time retries.
func newCloud(identityCtx context.Context, cfg *config.Config, getenv func(string) string, clk clockwork.Clock, log zerolog.Logger) (*cloudSetup, error) {
	c := cfg.Cloud
	s := &cloudSetup{
		InstanceID: c.InstanceID, ProjectID: c.ProjectID, Region: c.Region,
		InstanceFrom: fromConfig, ProjectFrom: fromConfig, RegionFrom: fromConfig,
	}
	md, err := metadata.New(metadata.Options{
		Endpoint:       c.MetadataEndpoint,
		RequestTimeout: min(c.RequestTimeout.D(), metadata.DefaultRequestTimeout),
		Clock:          clk,
		Logger:         log.With().Str("component", "metadata").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("cloud.metadata_endpoint: %w", err)
	}
	s.Metadata = md

	// Credentials: config, then environment, then the instance's agency.
	agency := false
	envCreds, envProject, envOK, err := metadata.EnvCredentials(getenv)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Credentials.AccessKey != "":
		s.Creds, err = metadata.NewStatic(metadata.Credentials{
			AccessKey:     c.Credentials.AccessKey,
			SecretKey:     metadata.Secret(c.Credentials.SecretKey.Reveal()),
			SecurityToken: metadata.Secret(c.Credentials.SecurityToken.Reveal()),
			Source:        metadata.SourceConfig,
		})
	case envOK:
		s.Creds, err = metadata.NewStatic(envCreds)
	default:
		s.Creds = md.AgencyCredentials(0)
		agency = true
	}
	if err != nil {
		return nil, err
	}
	if s.ProjectID == "" && envProject != "" {
		s.ProjectID, s.ProjectFrom = envProject, fromEnv
	}

	// Ask the metadata service only when it is needed anyway, so that a
	// fully configured agent works where there is none.
	if agency || s.InstanceID == "" || s.ProjectID == "" || (s.Region == "" && c.ASEndpoint == "") {
		id, err := md.Identity(identityCtx)
		if err != nil {
			s.MetadataErr = err
		} else {
			s.AZ = id.AvailabilityZone
			if s.InstanceID == "" {
				s.InstanceID, s.InstanceFrom = id.InstanceID, fromMetadata
			}
			if s.ProjectID == "" {
				s.ProjectID, s.ProjectFrom = id.ProjectID, fromMetadata
			}
			if s.Region == "" {
				s.Region, s.RegionFrom = id.Region, fromMetadata
			}
		}
	}
	for _, v := range []struct{ val, name, key string }{
		{s.InstanceID, "the instance ID", "cloud.instance_id"},
		{s.ProjectID, "the project ID", "cloud.project_id"},
	} {
		if v.val == "" {
			return s, fmt.Errorf("%s is unknown: the metadata service did not answer (%v); set %s", v.name, s.MetadataErr, v.key)
		}
	}
	if s.Region == "" {
		s.RegionFrom = ""
	}

	s.ASEndpointFrom = fromRegion
	if c.ASEndpoint != "" {
		s.ASEndpointFrom = fromConfig
	}
	s.AS, err = asclient.New(asclient.Options{
		Region:             s.Region,
		Endpoint:           c.ASEndpoint,
		ProjectID:          s.ProjectID,
		Credentials:        s.Creds,
		CallTimeout:        c.RequestTimeout.D(),
		InsecureSkipVerify: c.InsecureSkipVerify,
		Clock:              clk,
		Logger:             log.With().Str("component", "as").Logger(),
		UserAgent:          strings.ReplaceAll(version.String(), " ", "/"),
	})
	if err != nil {
		return s, err
	}
	s.Discover = asclient.DiscoverOptions{
		InstanceID: s.InstanceID,
		GroupID:    c.ScalingGroupID,
		CacheFile:  filepath.Join(cfg.StateDir, groupCacheFile),
	}
	return s, nil
}

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
			line("result", "NOT usable (%d problems)", bad)
			return exitFailed
		}
		line("result", "usable")
		return exitOK
	}

	// Bound the metadata service's retries to half the time, leaving the
	// rest for AS.
	idCtx, idCancel := context.WithTimeout(ctx, remaining(ctx)/2)
	defer idCancel()
	s, err := newCloud(idCtx, cfg, getenv, clk, log)
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
	if cerr != nil {
		return finish()
	}

	d, err := s.AS.DiscoverGroup(ctx, s.Discover)
	if err != nil {
		fail("scaling group", err)
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
	return finish()
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
