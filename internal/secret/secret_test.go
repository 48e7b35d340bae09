package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No formatting verb or encoder prints the secret itself, alone or inside a
// struct; an empty secret prints empty, so "unset" stays visible.
func TestSecretNeverPrints(t *testing.T) {
	const raw = "TOPSECRET-sk-0123"
	type holder struct {
		SK    Secret `json:"sk" yaml:"sk"`
		Empty Secret `json:"empty" yaml:"empty"`
	}
	h := holder{SK: raw}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		outs = append(outs, fmt.Sprintf(verb, h), fmt.Sprintf(verb, h.SK))
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js), string(ys))
	for _, out := range outs {
		if strings.Contains(out, raw) || strings.Contains(out, fmt.Sprintf("%x", raw)) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if string(js) != `{"sk":"[redacted]","empty":""}` {
		t.Errorf("json = %s", js)
	}
	if h.SK.Reveal() != raw {
		t.Error("Reveal lost the secret")
	}
}
