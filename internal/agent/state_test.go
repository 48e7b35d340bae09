package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What is saved comes back; the file is replaced whole, never left torn.
func TestStateRoundTrip(t *testing.T) {
	st := newStateStore(filepath.Join(t.TempDir(), "sub", "state.json"))
	if s, warn := st.load(); warn != nil || s != nil {
		t.Fatalf("fresh load: %+v %v", s, warn)
	}
	s := &State{InstanceID: "i-1", GroupID: "g-1"}
	p := s.Phase("launch")
	p.Result = "CONTINUE"
	p.Hooks["h1"] = &HookState{ActionKey: "k1", Timeout: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Extends: 2, Sent: "CONTINUE"}
	if err := st.save(s); err != nil {
		t.Fatal(err)
	}
	got, warn := st.load()
	if warn != nil {
		t.Fatal(warn)
	}
	h := got.Phase("launch").Hooks["h1"]
	if got.InstanceID != "i-1" || got.Phases["launch"].Result != "CONTINUE" || h.Extends != 2 || !h.Timeout.Equal(p.Hooks["h1"].Timeout) {
		t.Errorf("round trip lost data: %+v %+v", got, h)
	}
	entries, _ := os.ReadDir(filepath.Dir(st.path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// A corrupt, truncated or foreign state file never stops the agent: it is
// set aside with a warning and the agent starts fresh.
func TestStateCorruptFileIsSetAside(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"garbage", "\x00\x01not json"},
		{"truncated", `{"version":1,"instance_id":"i-1","phases":{"launch":{"res`},
		{"other version", `{"version":99}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			s, warn := newStateStore(path).load()
			if warn == nil || !strings.Contains(warn.Error(), "starting fresh") {
				t.Errorf("warn = %v", warn)
			}
			if s != nil {
				t.Errorf("state = %+v, want none (a fresh start)", s)
			}
			if data, err := os.ReadFile(path + ".corrupt"); err != nil || string(data) != tc.body {
				t.Errorf("corrupt file not kept aside: %v", err)
			}
		})
	}
}
