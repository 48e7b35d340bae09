package checks

import (
	"fmt"
	"path/filepath"
	"strings"
)

// windowsExt reports whether ext (lower case) is a script type that Windows
// can run; interpreterFor says how.
func windowsExt(ext string) bool {
	switch ext {
	case ".exe", ".cmd", ".bat", ".ps1":
		return true
	}
	return false
}

// validDropInName applies run-parts' name rule for goos: only ASCII letters,
// digits, '_' and '-', so that package managers' leftovers (*.dpkg-old,
// *.rpmsave, *~), dotfiles and READMEs never run. On Windows the name must
// end in .exe, .cmd, .bat or .ps1 (any case) and the rest follows the same rule.
// It is pure so that every platform tests both rule sets.
func validDropInName(name, goos string) bool {
	if goos == "windows" {
		ext := filepath.Ext(name)
		if !windowsExt(strings.ToLower(ext)) {
			return false
		}
		name = name[:len(name)-len(ext)]
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// interpreterFor returns the argv that runs a Windows drop-in script:
// executables directly, batch files through cmd.exe /C, PowerShell scripts
// through powershell.exe with the execution policy bypassed (the file's
// owner and place already vouch for it). systemRoot is %SystemRoot%; the
// interpreters are named by full path so that PATH cannot swap them.
func interpreterFor(path, systemRoot string) ([]string, error) {
	sys32 := systemRoot + `\System32`
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".exe":
		return []string{path}, nil
	case ".cmd", ".bat":
		return []string{sys32 + `\cmd.exe`, "/C", path}, nil
	case ".ps1":
		return []string{sys32 + `\WindowsPowerShell\v1.0\powershell.exe`,
			"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", path}, nil
	default:
		return nil, fmt.Errorf("%s: no interpreter for %q files on Windows (want .exe, .cmd, .bat or .ps1)", path, ext)
	}
}
