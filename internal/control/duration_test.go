package control

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// `asagent status --json` writes durations as Go duration strings, under
// the field names it always had, and a client still reads the bare
// nanoseconds of an older agent.
func TestDurationJSON(t *testing.T) {
	out, err := json.Marshal(Check{Name: "web", Duration: Duration(1694301 * time.Microsecond)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"last_duration":"1.694301s"`) {
		t.Errorf("Check as JSON = %s, want last_duration \"1.694301s\"", out)
	}
	cases := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"1.5s"`, 1500 * time.Millisecond, false},
		{`"2m0s"`, 2 * time.Minute, false},
		{`1694301`, 1694301, false}, // an older agent's nanoseconds
		{`"soon"`, 0, true},
		{`true`, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tc.in), &d)
			if (err != nil) != tc.wantErr || d.D() != tc.want {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v (error %v)", tc.in, d.D(), err, tc.want, tc.wantErr)
			}
		})
	}
}
