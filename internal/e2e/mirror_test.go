package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// aptEntry is one source that apt is configured with.
type aptEntry struct {
	types, uris, suites, components []string
}

// parseOneLine reads the classic sources.list format:
// `deb [options] URI SUITE COMPONENT...`.
func parseOneLine(text string) []aptEntry {
	var out []aptEntry
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		// Options are bracketed and may hold spaces: drop them.
		if i := strings.Index(line, "["); i >= 0 {
			if j := strings.Index(line[i:], "]"); j >= 0 {
				line = line[:i] + " " + line[i+j+1:]
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		out = append(out, aptEntry{types: f[:1], uris: f[1:2], suites: f[2:3], components: f[3:]})
	}
	return out
}

// parseDeb822 reads the .sources format: stanzas of `Field: value` lines
// separated by blank lines; a stanza with `Enabled: no` is off.
func parseDeb822(text string) []aptEntry {
	var out []aptEntry
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 && !strings.EqualFold(fields["enabled"], "no") {
			out = append(out, aptEntry{
				types: strings.Fields(fields["types"]), uris: strings.Fields(fields["uris"]),
				suites: strings.Fields(fields["suites"]), components: strings.Fields(fields["components"]),
			})
		}
		fields, last = map[string]string{}, ""
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if ok {
				last = strings.ToLower(strings.TrimSpace(k))
				fields[last] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	return out
}

// debianMirror returns the archive URI that the machine's apt already uses
// for suite with the main component: the test must use the mirror this
// machine is configured for, never a host of its own choosing. root is "/"
// except in tests of this function.
func debianMirror(root, suite string) (string, error) {
	etc := filepath.Join(root, "etc", "apt")
	var entries []aptEntry
	if b, err := os.ReadFile(filepath.Join(etc, "sources.list")); err == nil {
		entries = append(entries, parseOneLine(string(b))...)
	}
	// apt reads only *.list and *.sources there, in name order.
	names, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*"))
	sort.Strings(names)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(name, ".list"):
			entries = append(entries, parseOneLine(string(b))...)
		case strings.HasSuffix(name, ".sources"):
			entries = append(entries, parseDeb822(string(b))...)
		}
	}
	for _, e := range entries {
		if slices.Contains(e.types, "deb") && slices.Contains(e.suites, suite) && slices.Contains(e.components, "main") && len(e.uris) > 0 {
			return strings.TrimRight(e.uris[0], "/"), nil
		}
	}
	return "", fmt.Errorf("no apt source in %s serves %s main", etc, suite)
}

// The mirror comes from whichever format the machine uses, skipping
// security and updates suites, disabled stanzas, deb-src lines and files
// apt itself ignores.
func TestDebianMirror(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr bool
	}{
		{
			name: "deb822, security first",
			files: map[string]string{"sources.list.d/debian.sources": `Types: deb
# http://snapshot.example/archive/debian-security/20250520T000000Z
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`},
			want: "http://mirror.example/debian",
		},
		{
			name: "deb822 stanza disabled",
			files: map[string]string{"sources.list.d/a.sources": `Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
URIs: http://on.example/debian
Suites:
 bookworm
Components: main contrib
`},
			want: "http://on.example/debian",
		},
		{
			name: "one-line format with options",
			files: map[string]string{"sources.list": `# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://one.example/debian bookworm main non-free-firmware
`},
			want: "http://one.example/debian",
		},
		{
			name: "ignored file names",
			files: map[string]string{
				"sources.list.d/x.list.disabled": "deb http://disabled.example/debian bookworm main\n",
				"sources.list.d/y.list":          "deb http://y.example/debian bookworm main\n",
			},
			want: "http://y.example/debian",
		},
		{
			name:    "no main for the suite",
			files:   map[string]string{"sources.list": "deb http://x.example/debian trixie main\ndeb http://x.example/debian bookworm contrib\n"},
			wantErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(root, "etc", "apt", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := debianMirror(root, "bookworm")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got != tc.want {
				t.Errorf("mirror = %q, want %q", got, tc.want)
			}
		})
	}
}
