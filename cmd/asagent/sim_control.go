package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/asagent/asagent/internal/sim"
)

// The commands that drive a running `asagent sim` through its control
// path (sim.ControlPath): plain HTTP to loopback, unsigned. They share no
// code with the agent's AS client.

// simControlTimeout bounds one request to the simulator: it answers at once.
const simControlTimeout = 10 * time.Second

// simControlCommands are the `asagent sim` commands that drive a running
// simulator, in help order.
var simControlCommands = []string{sim.ControlScaleOut, sim.ControlScaleIn, sim.ControlComplete, sim.ControlStatus}

func isSimControl(arg string) bool { return slices.Contains(simControlCommands, arg) }

// simControlRequest is one control command's request: method and body.
type simControlRequest struct {
	method string
	body   any
}

func runSimControl(ctx context.Context, cio cmdIO, op string, args []string) int {
	synopsis := "[--sim URL] [--json]"
	if op == sim.ControlComplete {
		synopsis = "--result CONTINUE|ABANDON|EXTEND [--hook NAME] [--sim URL] [--json]"
	}
	fs := newFlags(cio, "sim "+op, synopsis)
	base := fs.String("sim", "http://"+simDefaultListen, "the running simulator's `URL` (it printed: listening on URL)")
	asJSON := fs.Bool("json", false, "print the simulator's answer as JSON")
	var hook, result *string
	if op == sim.ControlComplete {
		hook = fs.String("hook", "", "the hook to answer (default: every hook holding the instance)")
		result = fs.String("result", "", "CONTINUE, ABANDON or EXTEND (required)")
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	req := simControlRequest{method: http.MethodPost}
	switch op {
	case sim.ControlStatus:
		req.method = http.MethodGet
	case sim.ControlComplete:
		r := strings.ToUpper(*result)
		if r != sim.ResultContinue && r != sim.ResultAbandon && r != sim.ResultExtend {
			fmt.Fprintf(cio.stderr, "asagent sim complete: --result must be CONTINUE, ABANDON or EXTEND, not %q\n", *result)
			fs.Usage()
			return exitUsage
		}
		req.body = sim.CompleteRequest{Hook: *hook, Result: r}
	}
	ans, err := callSimControl(ctx, *base, op, req)
	if err != nil {
		fmt.Fprintf(cio.stderr, "asagent sim %s: %v\n", op, err)
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(cio.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ans)
	} else {
		if ans.Error == "" && op != sim.ControlStatus {
			fmt.Fprintln(cio.stdout, simDid(op, ans.Status))
		}
		renderSimStatus(cio.stdout, ans.Status, time.Now())
	}
	if ans.Error != "" {
		fmt.Fprintf(cio.stderr, "asagent sim %s: %s\n", op, ans.Error)
		return exitFailed
	}
	return exitOK
}

// callSimControl sends one control request and decodes the answer; an
// answer with an error is no error here (ans.Error says it). Never through
// a proxy: the control path answers only on loopback.
func callSimControl(ctx context.Context, base, op string, req simControlRequest) (sim.ControlAnswer, error) {
	var ans sim.ControlAnswer
	ctx, cancel := context.WithTimeout(ctx, simControlTimeout)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return ans, err
		}
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(ctx, req.method, strings.TrimSuffix(base, "/")+sim.ControlPath+op, body)
	if err != nil {
		return ans, fmt.Errorf("--sim %s: %w", base, err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(r)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ans, fmt.Errorf("no simulator answers at %s (start one: asagent sim --workdir DIR)", base)
	}
	if err != nil {
		return ans, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&ans); err != nil {
		return ans, fmt.Errorf("%s answered %s, not the simulator's control path: %w", base, resp.Status, err)
	}
	return ans, nil
}

// simDid is the line that says what a scaling action or answer did.
func simDid(op string, st sim.LocalStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: instance %s is now %s", op, printable(st.InstanceID), st.LifeCycleState)
	var holding []string
	for _, h := range st.Holds {
		if h.Status == "HANGING" {
			holding = append(holding, printable(h.Hook))
		}
	}
	switch {
	case len(holding) > 0:
		fmt.Fprintf(&b, ", held by %s", strings.Join(holding, ", "))
	case op == sim.ControlScaleOut && st.LifeCycleState == sim.StateInService:
		b.WriteString(": the group has no launch hook")
	case op == sim.ControlScaleIn && st.LifeCycleState == sim.StateRemoved:
		b.WriteString(": the group has no terminate hook")
	}
	return b.String()
}

// renderSimStatus prints the local instance's state, its holds and the
// callbacks about it as tables.
func renderSimStatus(out io.Writer, st sim.LocalStatus, now time.Time) {
	where := "in no scaling group"
	if st.GroupID != "" {
		where = "in scaling group " + printable(st.GroupID)
	}
	fmt.Fprintf(out, "\ninstance %s: %s, %s\n", printable(st.InstanceID), st.LifeCycleState, where)
	if len(st.Holds) == 0 {
		fmt.Fprintln(out, "no hook has held it yet")
	} else {
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "\nHOLD\tPHASE\tSTATUS\tDEADLINE\tEXTENDS\tENDED")
		for _, h := range st.Holds {
			deadline := h.Timeout.Local().Format(time.TimeOnly)
			ended := "-"
			if h.Status == "HANGING" {
				deadline += " (in " + h.Timeout.Sub(now).Round(time.Second).String() + ")"
			} else {
				ended = fmt.Sprintf("%s by %s at %s", h.Status, h.EndedBy, h.EndedAt.Local().Format(time.TimeOnly))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", printable(h.Hook), hookPhase(h.Type), h.Status, deadline, h.Extends, ended)
		}
		w.Flush()
	}
	if len(st.Callbacks) == 0 {
		fmt.Fprintln(out, "no callbacks yet")
		return
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nCALLBACK\tHOOK\tRESULT\tFROM\tANSWER")
	for _, cb := range st.Callbacks {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", cb.Time.Local().Format(time.TimeOnly), printable(cb.Hook), printable(cb.Result), cb.From, callbackAnswer(cb))
	}
	w.Flush()
}

// hookPhase names a hook type by the agent's phase.
func hookPhase(typ string) string {
	switch typ {
	case sim.HookLaunch:
		return "launch"
	case sim.HookTerminate:
		return "terminate"
	}
	return printable(typ)
}

// callbackAnswer is what the simulator answered a callback.
func callbackAnswer(cb sim.Callback) string {
	switch {
	case cb.Status == 0:
		return "applied, answer lost"
	case cb.ErrorCode != "":
		return fmt.Sprintf("%d %s", cb.Status, printable(cb.ErrorCode))
	}
	return fmt.Sprint(cb.Status)
}
