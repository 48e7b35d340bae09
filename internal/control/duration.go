package control

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that JSON carries as a Go duration string
// ("1.5s", "2m0s"), so that a reader sees its unit: the agent writes every
// duration that way, in its logs and in `asagent status --json`.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string, or a bare number of nanoseconds
// as agents before this format wrote it.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ns int64
		if json.Unmarshal(b, &ns) != nil {
			return fmt.Errorf("duration: want a string such as \"1.5s\", not %s", b)
		}
		*d = Duration(ns)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}
