package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The example documents every key with its default, and is nothing but the
// defaults: loading it must give exactly Default(), checks included (none),
// so that a copied file never carries an example check (":8080") that makes
// every launch fail. The check keys are documented in comments, one
// commented check per type.
func TestExampleIsCompleteAndShowsDefaults(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "agent.yaml.example"))
	if err != nil {
		t.Fatalf("agent.yaml.example does not load:\n%v", err)
	}
	data, _ := os.ReadFile(filepath.Join("..", "..", "agent.yaml.example"))
	for typ := range typeFields {
		if !strings.Contains(string(data), "#     type: "+string(typ)+" ") && !strings.Contains(string(data), "#     type: "+string(typ)+"\n") {
			t.Errorf("the example documents no %s check", typ)
		}
	}
	cfg.Launch.Checks, cfg.Terminate.Checks = nilIfEmpty(cfg.Launch.Checks), nilIfEmpty(cfg.Terminate.Checks)
	if def := Default(); !reflect.DeepEqual(cfg, def) {
		t.Errorf("example differs from Default():\nexample: %+v\ndefault: %+v", cfg, def)
	}
	// Every key of the schema appears in the example.
	for _, key := range allKeys(reflect.TypeOf(Config{}), "") {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(data), leaf+":") {
			t.Errorf("agent.yaml.example does not document %s", key)
		}
	}
}

// nilIfEmpty is nil for an empty list: "checks: []" is no checks.
func nilIfEmpty(cs []Check) []Check {
	if len(cs) == 0 {
		return nil
	}
	return cs
}

func allKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for _, k := range yamlKeys(t) {
		f, _ := fieldByTag(t, k)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			keys = append(keys, allKeys(ft, join(prefix, k))...)
			continue
		}
		keys = append(keys, join(prefix, k))
	}
	return keys
}

// No file at the default path, or an empty file, means all defaults: an
// instance with an agency needs no config. A missing file anywhere else is
// a path someone named: a typo there must not fall back to the defaults
// (the real metadata address), so it is a problem that names the file.
func TestMissingOrEmptyFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(empty)
	if err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(empty) = %+v, %v; want the defaults", cfg, err)
	}
	missing := filepath.Join(dir, "agent.yml")
	if cfg, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing+": no such file") {
		t.Errorf("Load(missing) = %+v, %v; want a problem naming the file", cfg, err)
	}
	if _, err := os.Stat(DefaultPath); err == nil {
		t.Skipf("%s exists on this machine: cannot test it missing", DefaultPath)
	}
	if cfg, err := Load(DefaultPath); err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(%s) = %+v, %v; want the defaults", DefaultPath, cfg, err)
	}
}

// A bad file lists every problem at once, each with file, line and key; the
// .err file next to each case is the exact text users see.
func TestBadConfigs(t *testing.T) {
	cases, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if len(cases) == 0 {
		t.Fatal("no testdata")
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, _ := os.ReadFile(path)
			want, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(path), data)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Values given override defaults; defaults fill what is left, per check too.
func TestParseFillsCheckDefaults(t *testing.T) {
	cfg, err := Parse("agent.yaml", []byte(`
launch:
  interval: 7s
  timeout: 40s
  checks:
    - {name: a, type: exec, command: [/bin/true]}
    - {name: b, type: http, url: "http://127.0.0.1:1/"}
    - {name: c, type: tcp, address: "127.0.0.1:1", timeout: 9s, interval: 3s}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Launch.Checks
	want := []struct {
		interval, timeout string
		line              int
	}{{"7s", "40s", 6}, {"7s", "5s", 7}, {"3s", "9s", 8}}
	for i, w := range want {
		if got[i].Interval.String() != w.interval || got[i].Timeout.String() != w.timeout || got[i].Line != w.line {
			t.Errorf("check %s: interval %s timeout %s line %d, want %s %s %d", got[i].Name, got[i].Interval, got[i].Timeout, got[i].Line, w.interval, w.timeout, w.line)
		}
	}
	if got[1].Method != "GET" || got[1].ExpectStatus != "200-399" || got[1].SuccessThreshold != 1 {
		t.Errorf("http defaults not filled: %+v", got[1])
	}
	if cfg.Terminate.Mode != Sequential || cfg.Poll.LaunchInterval.D().Seconds() != 2 {
		t.Errorf("untouched defaults changed: %+v", cfg)
	}
}

// Secrets never print, whether the config is formatted or dumped as YAML.
func TestSecretsDoNotPrint(t *testing.T) {
	cfg, err := Parse("agent.yaml", []byte("cloud:\n  credentials:\n    access_key: AKID\n    secret_key: TOPSECRETSK\n    security_token: TOPSECRETTOKEN\n"))
	if err != nil {
		t.Fatal(err)
	}
	dump, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v %+v", cfg, cfg.Cloud.Credentials), string(dump)} {
		if strings.Contains(out, "TOPSECRET") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if cfg.Cloud.Credentials.SecretKey.Reveal() != "TOPSECRETSK" {
		t.Error("Reveal lost the secret")
	}
}

func TestStatusSet(t *testing.T) {
	set, err := ParseStatusSet("200, 204,300-308")
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[int]bool{200: true, 201: false, 204: true, 300: true, 308: true, 309: false, 500: false} {
		if set.Contains(code) != want {
			t.Errorf("Contains(%d) = %v", code, !want)
		}
	}
	for _, bad := range []string{"", "abc", "300-200", "99", "200-600", "2xx"} {
		if _, err := ParseStatusSet(bad); err == nil {
			t.Errorf("ParseStatusSet(%q) accepted", bad)
		}
	}
}

// The metrics endpoint serves only this host unless allow_remote says
// otherwise: an empty host is every interface, and a name other than
// localhost could resolve anywhere.
func TestMetricsCheckListen(t *testing.T) {
	for _, tc := range []struct {
		listen string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9469", false, true},
		{"127.0.0.2:9469", false, true},
		{"[::1]:9469", false, true},
		{"localhost:9469", false, true},
		{":9469", false, false},
		{"0.0.0.0:9469", false, false},
		{"10.0.0.5:9469", false, false},
		{"metrics.example.com:9469", false, false},
		{"0.0.0.0:9469", true, true},
		{":9469", true, true},
		{"9469", true, false},
		{"127.0.0.1:", false, false},
	} {
		err := Metrics{Listen: tc.listen, AllowRemote: tc.remote}.CheckListen()
		if (err == nil) != tc.ok {
			t.Errorf("listen %q allow_remote %v: %v, want ok %v", tc.listen, tc.remote, err, tc.ok)
		}
	}
}
