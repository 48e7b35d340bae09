package checks

import (
	"slices"
	"testing"
)

// The run-parts name rule keeps package-manager leftovers, backups,
// dotfiles and READMEs from running, on Linux and (with the runnable
// extensions) on Windows. Pure, so every platform tests both rule sets.
func TestValidDropInName(t *testing.T) {
	cases := []struct {
		name           string
		linux, windows bool
	}{
		{"10-nginx", true, false},
		{"check_db", true, false},
		{"A-Z_09", true, false},
		{"README.md", false, false},
		{"nginx.dpkg-old", false, false},
		{"nginx.dpkg-dist", false, false},
		{"nginx~", false, false},
		{".hidden", false, false},
		{"#nginx#", false, false},
		{"with space", false, false},
		{"naïve", false, false},
		{"", false, false},
		{"10-iis.ps1", false, true},
		{"10-iis.PS1", false, true},
		{"check.cmd", false, true},
		{"check.bat", false, true},
		{"probe.exe", false, true},
		{"check.sh", false, false},
		{".ps1", false, false},
		{"a.b.ps1", false, false},
		{"check.ps1~", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := validDropInName(tc.name, "linux"); got != tc.linux {
				t.Errorf("linux: %v, want %v", got, tc.linux)
			}
			if got := validDropInName(tc.name, "windows"); got != tc.windows {
				t.Errorf("windows: %v, want %v", got, tc.windows)
			}
		})
	}
}

// Windows drop-ins run through the interpreter their extension needs,
// named by full path so that PATH cannot swap it.
func TestInterpreterFor(t *testing.T) {
	const root = `C:\Windows`
	cases := []struct {
		path string
		want []string
	}{
		{`C:\asagent\launch.d\probe.exe`, []string{`C:\asagent\launch.d\probe.exe`}},
		{`C:\asagent\launch.d\a.cmd`, []string{`C:\Windows\System32\cmd.exe`, "/C", `C:\asagent\launch.d\a.cmd`}},
		{`C:\asagent\launch.d\a.BAT`, []string{`C:\Windows\System32\cmd.exe`, "/C", `C:\asagent\launch.d\a.BAT`}},
		{`C:\asagent\launch.d\a.ps1`, []string{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
			"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", `C:\asagent\launch.d\a.ps1`}},
		{`C:\asagent\launch.d\a.sh`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			got, err := interpreterFor(tc.path, root)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
