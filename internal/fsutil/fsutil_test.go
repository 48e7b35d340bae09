package fsutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The file is replaced whole, in a directory created on demand, with no
// temporary file left behind and no access for others.
func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "state.json")
	for _, body := range []string{"first", "second, longer than the first"} {
		if err := WriteFileAtomic(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Fatalf("read %q, %v; want %q", got, err, body)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("mode %v, %v: others can read the file", fi.Mode(), err)
	}
}

// A file meant for another reader (node_exporter) gets the mode asked for,
// whatever the umask; the directory made for it at most lets them in.
func TestWriteFileAtomicPerm(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix modes")
	}
	path := filepath.Join(t.TempDir(), "textfile", "asagent.prom")
	if err := WriteFileAtomicPerm(path, []byte("x 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, %v; want 0644", fi.Mode(), err)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode().Perm()&^0o755 != 0 || di.Mode().Perm()&0o700 != 0o700 {
		t.Errorf("directory mode %v, %v; want 0755 less the umask", di.Mode(), err)
	}
}
