// Package secret holds the one type that carries credentials through the
// agent: a string that never prints.
package secret

import (
	"encoding/json"
	"fmt"
)

// Secret is a string that never prints: String, GoString, Format and the
// JSON, text and YAML encodings redact it, so a value holding one can be
// logged or dumped with any verb or encoder without leaking it. Reveal
// returns it for the one place that signs requests.
type Secret string

// Redacted is what a set secret prints as.
const Redacted = "[redacted]"

// String returns Redacted for a set secret and "" for an empty one, so a
// reader can still tell whether it is set.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return fmt.Sprintf("secret.Secret(%q)", s.String()) }

// Format redacts every fmt verb, including %s, %q, %x and %v.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// MarshalJSON redacts the secret in JSON (zerolog's Interface, encoding/json).
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText redacts the secret in text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML redacts the secret when a configuration is dumped.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }
