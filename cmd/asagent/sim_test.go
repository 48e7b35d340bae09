package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asagent/asagent/internal/syncbuf"

	"github.com/asagent/asagent/internal/sim"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

const (
	simTestAK = "SIMCMDACCESSKEY00001"
	simTestSK = "sim-cmd-secret-0123456789"
)

// lockedBuffer captures output while it is read (see package syncbuf).
type lockedBuffer = syncbuf.Buffer

// Bad command lines and scenarios fail before anything listens, with the
// documented exit codes: 2 for flags, 78 for a scenario file, 1 for an
// address that cannot be bound.
func TestSimCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("groups: [{id: g, hooks: [{name: h, type: LAUNCH}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"access key alone", []string{"--access-key", "AK"}, exitUsage, "go together"},
		{"zero extend", []string{"--extend-by", "0s"}, exitUsage, "must be positive"},
		{"stray argument", []string{"extra"}, exitUsage, `unexpected argument "extra"`},
		{"missing scenario", []string{"--scenario", filepath.Join(dir, "none.yaml")}, exitConfig, "no such file"},
		{"invalid scenario", []string{"--scenario", bad}, exitConfig, "lifecycle_hook_type"},
		{"scenario below min timeout", []string{"--scenario", writeScenario(t, dir, 30)}, exitConfig, "default_timeout 30"},
		{"bad address", []string{"--listen", "127.0.0.1:-1"}, exitFailed, "asagent sim:"},
		{"negative extend cap", []string{"--extend-cap", "-1"}, exitUsage, "unknowns.extend_cap"},
		{"bad gateway codes", []string{"--gateway-codes", "APIX"}, exitUsage, "unknowns.gateway_codes"},
		{"bad lost result", []string{"--lost-answers", "1", "--lost-answer-results", "RETRY"}, exitUsage, "unknowns.lost_answer_results"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), cmdIO{&stdout, &stderr}, append([]string{"sim"}, tc.args...))
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.wantCode, tc.wantStderr)
			}
		})
	}
}

// writeScenario writes a scenario whose launch hook has the timeout.
func writeScenario(t *testing.T, dir string, timeout int) string {
	t.Helper()
	p := filepath.Join(dir, "short.yaml")
	y := "local_instance: i-local\ngroups:\n  - id: g-short\n    hooks: [{name: boot, type: INSTANCE_LAUNCHING, default_timeout: " +
		strconv.Itoa(timeout) + "}]\n    instances: [{id: i-local, held: true}]\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// snippet is what `asagent sim` printed: its URL and agent.yaml values.
type snippet struct {
	url, project, group string
	lines               []string
}

// readSnippet reads the command's stdout until the snippet is complete
// (the line after scaling_group_id, or EOF), then keeps draining it.
func readSnippet(t *testing.T, r io.Reader) snippet {
	t.Helper()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var s snippet
	deadline := time.After(30 * time.Second)
	// The snippet ends with the next steps: "next: ..." and one more line.
	for afterNext := -1; afterNext < 1; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended early: %q", s.lines)
			}
			s.lines = append(s.lines, l)
			if afterNext >= 0 || strings.HasPrefix(l, "next: ") {
				afterNext++
			}
			switch {
			case strings.HasPrefix(l, "listening on "):
				s.url = strings.TrimPrefix(l, "listening on ")
			case strings.HasPrefix(l, "  project_id: "):
				s.project = strings.TrimPrefix(l, "  project_id: ")
			case strings.HasPrefix(l, "  scaling_group_id: "):
				s.group = strings.TrimPrefix(l, "  scaling_group_id: ")
			}
		case <-deadline:
			t.Fatalf("no complete snippet within 30s: %q", s.lines)
		}
	}
	go func() {
		for range lines { // drain, so the command never blocks on stdout
		}
	}()
	return s
}

// hangingFromSim lists the group's hanging records with the official SDK,
// signed with the command's AK/SK.
func hangingFromSim(t *testing.T, s snippet) []model.InstanceHangingInfos {
	t.Helper()
	resp, err := sdkClient(t, s).ListHookInstances(&model.ListHookInstancesRequest{ScalingGroupId: s.group})
	if err != nil {
		t.Fatalf("ListHookInstances: %v", err)
	}
	return *resp.InstanceHangingInfo
}

// In process: `asagent sim` binds, prints the URL and an agent.yaml snippet
// that works, serves the ready-made case (the local instance held by the
// launch hook), logs requests without the secret, and stops cleanly when
// its context ends.
func TestSimCommandServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- dispatch(ctx, cmdIO{outW, &stderr}, []string{"sim", "--listen", "127.0.0.1:0",
			"--access-key", simTestAK, "--secret-key", simTestSK})
		outW.Close()
	}()
	s := readSnippet(t, outR)
	if s.project != sim.DefaultProjectID || s.group != sim.DefaultGroupID {
		t.Errorf("snippet: %q", s.lines)
	}
	recs := hangingFromSim(t, s)
	if len(recs) != 1 || *recs[0].InstanceId != sim.DefaultInstanceID || recs[0].LifecycleHookStatus.Value() != "HANGING" {
		t.Errorf("hanging records: %+v", recs)
	}
	cancel()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Errorf("exit %d, stderr %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop within 30s of cancellation")
	}
	log := stderr.String()
	if !strings.Contains(log, "as.list_hook_instances") || strings.Contains(log, simTestSK) {
		t.Errorf("log lacks the request or contains the secret: %s", log)
	}
}

// As a real process: `asagent sim --listen 127.0.0.1:0` reports its real
// port, answers the official SDK, and exits 0 on SIGTERM.
func TestSimBinary(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "sim", "--listen", "127.0.0.1:0", "--access-key", simTestAK, "--secret-key", simTestSK,
		"--extend-by", "2s", "--min-hook-timeout", "1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	s := readSnippet(t, stdout)
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") || strings.HasSuffix(s.url, ":0") {
		t.Fatalf("url %q", s.url)
	}
	if recs := hangingFromSim(t, s); len(recs) != 1 {
		t.Errorf("hanging records: %+v", recs)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr %s", err, stderr.String())
	}
}

// Every unknown of the cloud can be played from the command line, and a
// flag wins over the scenario file's key of the same name.
func TestSimCommandPlaysUnknowns(t *testing.T) {
	scenario := filepath.Join(t.TempDir(), "unknowns.yaml")
	y := `local_instance: i-local
unknowns: {not_held_code: AS.1111, extend_cap: 5}
groups:
  - id: g-u
    hooks: [{name: boot, type: INSTANCE_LAUNCHING}, {name: drain, type: INSTANCE_TERMINATING}]
    instances: [{id: i-local, held: true}, {id: i-old, state: REMOVING_WAIT}]
  - id: g-ep
    enterprise_project_id: ep-1
`
	if err := os.WriteFile(scenario, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- dispatch(ctx, cmdIO{outW, &stderr}, []string{"sim", "--listen", "127.0.0.1:0",
			"--access-key", simTestAK, "--secret-key", simTestSK, "--scenario", scenario,
			"--not-held-code", "AS.9999", "--extend-refusal-code", "AS.7045", "--extend-cap", "1",
			"--lost-answers", "1", "--lost-answer-results", "continue", "--hold-delay", "1h",
			"--token-put-status", "403", "--clock-offset", "3m", "--gateway-codes", "APIGW",
			"--enterprise-project-scoped"})
		outW.Close()
	}()
	s := readSnippet(t, outR)
	c := sdkClient(t, s)
	s.group = "g-u"
	recs := hangingFromSim(t, s)
	if len(recs) != 1 || *recs[0].InstanceId != "i-old" {
		t.Fatalf("hanging records: %+v, want i-old's drain hook alone", recs)
	}
	key := *recs[0].LifecycleActionKey
	// Callbacks name the hold by its key: the instance leaves the group
	// once it is answered, and a key names it still.
	cb := func(result string) error {
		var res model.CallbackLifeCycleHookOptionLifecycleActionResult
		_ = res.UnmarshalJSON([]byte(`"` + result + `"`))
		_, err := c.AttachCallbackInstanceLifeCycleHook(&model.AttachCallbackInstanceLifeCycleHookRequest{ScalingGroupId: "g-u",
			Body: &model.CallbackLifeCycleHookOption{LifecycleActionKey: &key, LifecycleActionResult: res}})
		return err
	}
	wantCode := func(what string, err error, code string) {
		t.Helper()
		var se *sdkerr.ServiceResponseError
		if !errors.As(err, &se) || se.ErrorCode != code {
			t.Errorf("%s: %v, want %s", what, err, code)
		}
	}

	if err := cb("EXTEND"); err != nil {
		t.Errorf("first EXTEND: %v", err)
	}
	wantCode("second EXTEND (--extend-cap 1)", cb("EXTEND"), "AS.7045")
	if err := cb("CONTINUE"); err == nil {
		t.Error("CONTINUE: answered, want its answer lost (--lost-answers 1)")
	}
	if st := instanceState(t, c, "g-u", "i-old"); st != "" {
		t.Errorf("i-old after the lost CONTINUE: %s, want it removed (the CONTINUE was applied)", st)
	}
	wantCode("CONTINUE again (--not-held-code over the scenario's)", cb("CONTINUE"), "AS.9999")

	groups, err := c.ListScalingGroups(&model.ListScalingGroupsRequest{})
	if err != nil || len(*groups.ScalingGroups) != 1 || *(*groups.ScalingGroups)[0].ScalingGroupId != "g-u" {
		t.Errorf("groups listed without enterprise_project_id: %+v, %v; want only g-u", groups, err)
	}
	if st := instanceState(t, c, "g-u", "i-local"); st != sim.StatePending {
		t.Errorf("the instance held at the start: %s, want PENDING for --hold-delay", st)
	}

	req, _ := http.NewRequest(http.MethodPut, s.url+"/meta-data/latest/api/token", nil)
	req.Header.Set("X-Metadata-Token-Ttl-Seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	if resp.StatusCode != 403 {
		t.Errorf("token PUT: %d, want 403", resp.StatusCode)
	}
	if skew := time.Until(date); skew < 3*time.Minute-5*time.Second || skew > 3*time.Minute+5*time.Second {
		t.Errorf("Date %v is %v from now, want about 3m (--clock-offset)", date, skew)
	}
	resp, err = http.Get(s.url + "/autoscaling-api/v1/" + s.project + "/no_such_api")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "APIGW.0101") {
		t.Errorf("unknown API answered %s, want APIGW.0101", body)
	}
	cancel()
	if code := <-exit; code != exitOK {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "playing unknowns: not_held_code=AS.9999") {
		t.Errorf("the log does not say which unknowns are played:\n%s", stderr.String())
	}
}
