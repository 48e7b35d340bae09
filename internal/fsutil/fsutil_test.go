package fsutil

import (
	"os"
	"path/filepath"
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
