package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"

	"github.com/asagent/asagent/internal/testutil"
)

// e2eScenario: a group with short hooks, and the local instance not yet in it.
const e2eScenario = `local_instance: i-e2e-local
groups:
  - id: g-e2e
    name: e2e
    hooks:
      - {name: boot, type: INSTANCE_LAUNCHING, default_timeout: 12, default_result: ABANDON}
      - {name: drain, type: INSTANCE_TERMINATING, default_timeout: 12, default_result: ABANDON}
    instances: []
`

// sdkClient is an official SDK client for the simulator at s.
func sdkClient(t *testing.T, s snippet) *as.AsClient {
	t.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(simTestAK).WithSk(simTestSK).WithProjectId(s.project).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := as.AsClientBuilder().WithEndpoints([]string{s.url}).WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithTimeout(10 * time.Second)).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return as.NewAsClient(hc)
}

// instanceState is the instance's life_cycle_state in the group, or "" when
// it is not in the group.
func instanceState(t *testing.T, c *as.AsClient, group, id string) string {
	t.Helper()
	resp, err := c.ListScalingInstances(&model.ListScalingInstancesRequest{ScalingGroupId: group})
	if err != nil {
		t.Fatalf("ListScalingInstances: %v", err)
	}
	for _, in := range *resp.ScalingGroupInstances {
		if in.InstanceId != nil && *in.InstanceId == id && in.LifeCycleState != nil {
			return in.LifeCycleState.Value()
		}
	}
	return ""
}

// The product as users run it: `asagent sim` and `asagent run` as real
// processes, drop-in scripts in real directories, and the cloud driven
// through the official SDK. The agent starts before its instance is in a
// group and keeps looking; scale-out puts the instance in PENDING_WAIT;
// the agent extends the 12 s hook while the readiness script is not yet
// ready, answers CONTINUE once it is, and the instance goes INSERVICE.
// Scale-in then runs the drain script and the instance leaves the group.
// Its metrics, scraped from /metrics and read from the textfile, move as
// the lifecycle does.
func TestEndToEndRealProcesses(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	scenario := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(scenario, []byte(e2eScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	simCmd := exec.Command(bin, "sim", "--listen", "127.0.0.1:0", "--access-key", simTestAK, "--secret-key", simTestSK,
		"--scenario", scenario, "--extend-by", "20s", "--min-hook-timeout", "1s")
	stdout, err := simCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var simLog lockedBuffer
	simCmd.Stderr = &simLog
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = simCmd.Process.Signal(syscall.SIGTERM)
		_ = simCmd.Wait()
	})
	s := readSnippet(t, stdout)

	for _, d := range []string{"launch.d", "terminate.d", "conf.d", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := func(path, body string) {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ready := filepath.Join(dir, "app-ready")
	script(filepath.Join(dir, "launch.d", "10-app"), `test -e `+ready)
	drained := filepath.Join(dir, "drained-at")
	script(filepath.Join(dir, "terminate.d", "10-drain"), `echo "$ASAGENT_PHASE $ASAGENT_HOOK_NAMES" > `+drained)
	cfgPath := filepath.Join(dir, "agent.yaml")
	textfile := filepath.Join(dir, "textfile_collector", "asagent.prom")
	cfg := `cloud:
  metadata_endpoint: ` + s.url + `
  as_endpoint: ` + s.url + `
  credentials:
    access_key: ` + simTestAK + `
    secret_key: ` + simTestSK + `
poll:
  launch_interval: 1s
  idle_interval: 1s
  hooks_interval: 2s
extend:
  margin: 10s
launch:
  scripts_dir: ` + filepath.Join(dir, "launch.d") + `
  interval: 1s
terminate:
  scripts_dir: ` + filepath.Join(dir, "terminate.d") + `
  interval: 1s
include_dir: ` + filepath.Join(dir, "conf.d") + `
state_dir: ` + filepath.Join(dir, "state") + `
control_socket: ` + filepath.Join(dir, "agent.sock") + `
log:
  level: debug
  format: json
metrics:
  listen: 127.0.0.1:0
  textfile: ` + textfile + `
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	agentCmd := exec.Command(bin, "run", "--config", cfgPath)
	var agentLog lockedBuffer
	agentCmd.Stdout, agentCmd.Stderr = &agentLog, &agentLog
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agentCmd.Wait() }()
	t.Cleanup(func() {
		_ = agentCmd.Process.Kill()
		if t.Failed() {
			t.Logf("agent log:\n%s\nsimulator log:\n%s", agentLog.String(), simLog.String())
		}
	})

	c := sdkClient(t, s)
	status := func() string {
		select {
		case err := <-agentDone:
			t.Fatalf("the agent exited: %v", err)
		default:
		}
		out, _ := exec.Command(bin, "status", "--config", cfgPath).CombinedOutput()
		return string(out)
	}
	// Not in a group yet: the agent says so plainly and keeps looking.
	testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, "the agent to look for its group", func() bool {
		return strings.Contains(status(), "instance i-e2e-local is in no scaling group of project "+s.project)
	})
	m := findMetricsEndpoint(t, &agentLog)
	m.until("looking for its group",
		metricWant{name: "asagent_build_info", value: 1},
		metricWant{name: "asagent_holds_seen_total", labels: []string{"phase", "launch"}, value: 0},
		metricWant{name: "asagent_as_requests_total", labels: []string{"operation", "list_groups", "code", "2xx"}, value: 1, atLeast: true},
		metricWant{name: "asagent_last_successful_poll_timestamp_seconds", value: -1}) // no engine yet: absent

	// Scale-out.
	add := model.GetBatchAddInstancesOptionActionEnum().ADD
	if _, err := c.BatchAddScalingInstances(&model.BatchAddScalingInstancesRequest{ScalingGroupId: s.group,
		Body: &model.BatchAddInstancesOption{InstancesId: []string{"i-e2e-local"}, Action: add}}); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, "the launch phase", func() bool { return strings.Contains(status(), "launch phase") })
	testutil.Eventually(t, 30*time.Second, 100*time.Millisecond, "an EXTEND", func() bool { return strings.Contains(simLog.String(), "result=EXTEND -> 204") })
	if st := instanceState(t, c, s.group, "i-e2e-local"); st != "PENDING_WAIT" {
		t.Fatalf("before the app is ready: state %s, want PENDING_WAIT", st)
	}
	m.until("launch pending",
		metricWant{name: "asagent_holds_seen_total", labels: []string{"phase", "launch"}, value: 1},
		metricWant{name: "asagent_extends_total", labels: []string{"phase", "launch"}, value: 1, atLeast: true},
		metricWant{name: "asagent_check_attempts_total", labels: []string{"phase", "launch", "check", "10-app", "outcome", "fail"}, value: 1, atLeast: true},
		metricWant{name: "asagent_check_attempts_total", labels: []string{"phase", "launch", "check", "10-app", "outcome", "pass"}, value: 0},
		metricWant{name: "asagent_deadline_remaining_seconds", value: 0, atLeast: true},
		metricWant{name: "asagent_last_successful_poll_timestamp_seconds", value: float64(time.Now().Add(-time.Minute).Unix()), atLeast: true},
		metricWant{name: "asagent_phases_finished_total", labels: []string{"phase", "launch", "result", "CONTINUE", "how", "passed"}, value: 0})
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, "INSERVICE", func() bool { return instanceState(t, c, s.group, "i-e2e-local") == "INSERVICE" })
	m.until("launch answered",
		metricWant{name: "asagent_check_attempts_total", labels: []string{"phase", "launch", "check", "10-app", "outcome", "pass"}, value: 1},
		metricWant{name: "asagent_callbacks_total", labels: []string{"phase", "launch", "result", "CONTINUE", "outcome", "accepted"}, value: 1},
		metricWant{name: "asagent_phases_finished_total", labels: []string{"phase", "launch", "result", "CONTINUE", "how", "passed"}, value: 1},
		metricWant{name: "asagent_phase_duration_seconds", labels: []string{"phase", "launch"}, value: 1},
		metricWant{name: "asagent_deadline_remaining_seconds", value: -1}, // nothing held
		metricWant{name: "asagent_holds_seen_total", labels: []string{"phase", "terminate"}, value: 0})

	// Scale-in.
	remove := model.GetBatchRemoveInstancesOptionActionEnum().REMOVE
	if _, err := c.BatchRemoveScalingInstances(&model.BatchRemoveScalingInstancesRequest{ScalingGroupId: s.group,
		Body: &model.BatchRemoveInstancesOption{InstancesId: []string{"i-e2e-local"}, Action: remove}}); err != nil {
		t.Fatalf("REMOVE: %v", err)
	}
	testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, "the instance to leave", func() bool { return instanceState(t, c, s.group, "i-e2e-local") == "" })
	terminated := []metricWant{
		{name: "asagent_holds_seen_total", labels: []string{"phase", "terminate"}, value: 1},
		{name: "asagent_check_attempts_total", labels: []string{"phase", "terminate", "check", "10-drain", "outcome", "pass"}, value: 1},
		{name: "asagent_phases_finished_total", labels: []string{"phase", "terminate", "result", "CONTINUE", "how", "passed"}, value: 1},
		{name: "asagent_phases_finished_total", labels: []string{"phase", "launch", "result", "CONTINUE", "how", "passed"}, value: 1},
		{name: "asagent_callbacks_total", labels: []string{"phase", "terminate", "result", "CONTINUE", "outcome", "accepted"}, value: 1},
		{name: "asagent_as_requests_total", labels: []string{"operation", "callback", "code", "2xx"}, value: 3, atLeast: true},
	}
	m.until("terminate answered", terminated...)
	if data, err := os.ReadFile(drained); err != nil || strings.TrimSpace(string(data)) != "terminate drain" {
		t.Errorf("drain script saw %q (%v), want %q", data, err, "terminate drain")
	}

	// Exactly one result per hook, from the agent, and both CONTINUE.
	log := simLog.String()
	for _, want := range []string{"hook=boot CONTINUE by callback", "hook=drain CONTINUE by callback"} {
		if strings.Count(log, want) != 1 {
			t.Errorf("simulator log has %q %d times, want once", want, strings.Count(log, want))
		}
	}
	if strings.Contains(log, "by timeout") {
		t.Error("a hook timed out into its default result")
	}

	// SIGTERM stops the agent cleanly.
	if err := agentCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case err := <-agentDone:
		if err != nil {
			t.Errorf("agent exit after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		t.Error("agent did not stop within 10 s of SIGTERM")
	}
	if bytes.Contains([]byte(agentLog.String()), []byte(simTestSK)) {
		t.Error("the agent logged the secret key")
	}
	// The textfile, written a last time at stop, holds the same counts.
	fams := readTextfile(t, textfile)
	for _, w := range terminated {
		if got := metricValue(fams, w.name, w.labels...); got != w.value && !(w.atLeast && got >= w.value) {
			t.Errorf("textfile: %s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}
