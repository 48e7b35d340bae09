package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Parse never panics on any agent.yaml; what it accepts is valid (a second
// Parse of the same bytes agrees), and no error repeats the value of
// cloud.credentials.secret_key or security_token.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../agent.yaml.example"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, p := range bad {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "cloud: {}", "cloud:\n  credentials:\n    access_key: AK\n    secret_key: fuzz-secret-key-0001\n    security_token: fuzz-token-00001\n  request_timeout: 0s\n",
		"cloud:\n  credentials:\n    secret_key: fuzz-secret-key-0002\n", "cloud:\n  credentials:\n    security_token: [fuzz-token-00002]\n",
		"launch:\n  checks:\n    - {name: a, type: http, url: 'http://x', expect_status: '200-'}\n",
		"poll: {launch_interval: -1s, jitter: NaN}", "extend: {margin: 1000000h}", "&a [*a]", "launch: &x {checks: [*x]}",
		"state_dir: relative\ncontrol_socket: \"\\0\"\n", "log: {level: trace}\n---\nlog: {}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			if _, err2 := Parse("fuzz.yaml", data); err2 != nil {
				t.Fatalf("second Parse disagrees: %v", err2)
			}
			return
		}
		var doc struct {
			Cloud struct {
				Credentials struct {
					SecretKey     any `yaml:"secret_key"`
					SecurityToken any `yaml:"security_token"`
				} `yaml:"credentials"`
			} `yaml:"cloud"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			return
		}
		msg := err.Error()
		for _, v := range []any{doc.Cloud.Credentials.SecretKey, doc.Cloud.Credentials.SecurityToken} {
			if s, ok := v.(string); ok && len(s) >= 8 && strings.Contains(msg, s) {
				t.Fatalf("a secret (%d chars) appears in the error: %s", len(s), msg)
			}
		}
	})
}
