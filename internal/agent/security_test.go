package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/sim"
)

// renamingHooks is the simulator's AS seen through a hostile API: every hook
// name it reports is replaced by a string full of shell syntax, and mapped
// back on the way in.
type renamingHooks struct {
	inner  Hooks
	toEvil map[string]string
}

func (r renamingHooks) back(name string) string {
	for k, v := range r.toEvil {
		if v == name {
			return k
		}
	}
	return name
}

func (r renamingHooks) HeldHooks(ctx context.Context, g, i string) ([]asclient.HeldHook, error) {
	held, err := r.inner.HeldHooks(ctx, g, i)
	for n := range held {
		held[n].HookName = r.toEvil[held[n].HookName]
	}
	return held, err
}

func (r renamingHooks) ListHooks(ctx context.Context, g string) ([]asclient.Hook, error) {
	hooks, err := r.inner.ListHooks(ctx, g)
	for n := range hooks {
		hooks[n].Name = r.toEvil[hooks[n].Name]
	}
	return hooks, err
}

func (r renamingHooks) Callback(ctx context.Context, cb asclient.Callback) error {
	cb.HookName = r.back(cb.HookName)
	return r.inner.Callback(ctx, cb)
}

// No string from the API ever reaches a shell: a hook name made of shell
// syntax ($(...), backquotes, ;, newline) reaches a drop-in script as the
// literal value of ASAGENT_HOOK_NAMES and is never run, and the hook is
// still answered.
func TestAPIStringsNeverReachAShell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		pwned := filepath.Join(h.dir, "pwned")
		evil := "boot$(touch " + pwned + ");`touch " + pwned + "`\n touch " + pwned + " #'\""
		seen := filepath.Join(h.dir, "seen")
		h.script(PhaseLaunch, "10-echo", `printf '%s' "$ASAGENT_HOOK_NAMES" > `+seen)
		h.startWith(renamingHooks{inner: h.client, toEvil: map[string]string{
			sim.DefaultLaunchHook: evil, sim.DefaultTerminateHook: "drain;id",
		}})
		h.waitFor(10*time.Minute, "launch outcome", func() bool { return len(h.outcomes()) == 1 })
		h.stop()
		if o := h.outcomes()["INSTANCE_LAUNCHING/"+sim.DefaultLaunchHook]; o.Result != "CONTINUE" || o.By != sim.ByCallback {
			t.Errorf("launch outcome = %+v, want CONTINUE by callback", o)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatal("a hook name from the API was run by a shell")
		}
		got, err := os.ReadFile(seen)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got), evil) {
			t.Errorf("ASAGENT_HOOK_NAMES = %q, want it to hold %q literally", got, evil)
		}
	})
}

// A state file the agent cannot trust is never believed: one in a state
// directory others may write to, or one that names no instance (forged),
// saying launch was decided CONTINUE. The agent runs the readiness check
// instead, and since it never passes, never answers CONTINUE.
func TestForgedStateIsNotBelieved(t *testing.T) {
	forged := `{"version":1,"phases":{"launch":{"result":"CONTINUE","hooks":{}}}}`
	for _, tc := range []struct {
		name    string
		dirMode os.FileMode
		body    string
	}{
		{"state_dir writable by others", 0o777, strings.Replace(forged, `"version":1`, `"version":1,"instance_id":"%s"`, 1)},
		{"no instance ID", 0o700, forged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(h.cfg.StateDir, tc.dirMode); err != nil {
					t.Fatal(err)
				}
				body := strings.Replace(tc.body, "%s", h.local, 1)
				if err := os.WriteFile(statePath(h.cfg.StateDir), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				h.script(PhaseLaunch, "10-never", `exit 1`)
				h.start()
				h.waitFor(time.Minute, "the checks to run", func() bool {
					ph := h.engine.Status().Phase
					return ph != nil && len(ph.Checks) == 1 && ph.Checks[0].Attempts > 0
				})
				h.stop()
				for _, r := range h.callbacks() {
					if r.Result != "EXTEND" {
						t.Errorf("the forged state made the agent send %s", r.Result)
					}
				}
			})
		})
	}
}
