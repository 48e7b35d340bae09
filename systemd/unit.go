// Package systemd carries the agent's systemd unit, asagent.service, inside
// the binary, so that `asagent service install` on a bare binary writes the
// same unit the packages install, not a generic template.
package systemd

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
)

// unit is asagent.service as the packages install it.
//
//go:embed asagent.service
var unit string

// UnitName is the unit's file name: the packages install it as
// /usr/lib/systemd/system/asagent.service.
const UnitName = "asagent.service"

// PackagedExec is the binary the packaged unit runs: the packages put it in
// /usr/bin.
const PackagedExec = "/usr/bin/asagent"

// Unit returns the unit file exactly as the packages install it.
func Unit() string { return unit }

// UnitFor returns the unit with its ExecStart= line running exe with args
// (instead of `/usr/bin/asagent run`), quoted for systemd. exe must be an
// absolute path; args are usually "run" and maybe "--config", FILE.
func UnitFor(exe string, args ...string) (string, error) {
	if !filepath.IsAbs(exe) {
		return "", fmt.Errorf("the unit needs an absolute path to asagent, not %q", exe)
	}
	words := make([]string, 0, 1+len(args))
	for _, w := range append([]string{exe}, args...) {
		if strings.IndexFunc(w, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
			return "", fmt.Errorf("%q: a control character cannot be written into a unit file", w)
		}
		words = append(words, quote(w))
	}
	line := "ExecStart=" + strings.Join(words, " ")
	lines := strings.SplitAfter(unit, "\n")
	found := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "ExecStart=") {
			lines[i] = line + "\n"
			found++
		}
	}
	if found != 1 {
		// The embedded unit is ours: this is a build mistake, caught by tests.
		return "", fmt.Errorf("%s has %d ExecStart= lines, want 1", UnitName, found)
	}
	return strings.Join(lines, ""), nil
}

// quote renders one word of a systemd command line (systemd.service(5),
// "Command lines"): specifiers (%) and variable references ($) are doubled
// so they stay literal, and a word with anything but plain characters is
// double-quoted with C-style escapes for backslash and quote.
func quote(word string) string {
	word = strings.ReplaceAll(word, "%", "%%")
	word = strings.ReplaceAll(word, "$", "$$")
	plain := word != ""
	for _, r := range word {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:=@,%$", r)) {
			plain = false
			break
		}
	}
	if plain {
		return word
	}
	word = strings.ReplaceAll(word, `\`, `\\`)
	word = strings.ReplaceAll(word, `"`, `\"`)
	return `"` + word + `"`
}
