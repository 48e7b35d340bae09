//go:build !windows

package trust

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// otherUID is a user that is neither root nor the agent: files given to it
// stand for files another local user controls. A numeric uid needs no
// account.
const otherUID = 65534

// sticky is the mode of /tmp: anyone may add entries, only an entry's owner
// (or the directory's) may rename or remove it.
const sticky = 0o777 | os.ModeSticky

// needRoot skips a test that must give files to other users.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user (chown)")
	}
}

func mkdir(t *testing.T, path string, mode os.FileMode, owner int) string {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	chmodOwn(t, path, mode, owner)
	return path
}

func write(t *testing.T, path, body string, mode os.FileMode, owner int) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	chmodOwn(t, path, mode, owner)
	return path
}

// chmodOwn sets the exact mode (WriteFile and Mkdir go through the umask,
// and chown clears set-id bits) and, for owner >= 0, the owner.
func chmodOwn(t *testing.T, path string, mode os.FileMode, owner int) {
	t.Helper()
	if owner >= 0 {
		if err := os.Lchown(path, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string, owner int) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if owner >= 0 {
		if err := os.Lchown(link, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	return link
}

// Open follows the StrictModes rules: every directory on the way and every
// symlink followed belongs to root or the agent's user and only a sticky
// root-owned directory (as /tmp) may be writable by others, in which case
// the entry must still be root's or the agent's; the file itself is a
// regular file of root or the agent, writable by no one else.
func TestOpenRules(t *testing.T) {
	needRoot(t)
	const me = -1 // keep the creator (root) as owner
	cases := []struct {
		name  string
		agent int // the agent's uid
		build func(t *testing.T, root string) string
		want  string // "" to accept, else a part of the refusal
	}{
		{"root's file in root's directories", 0, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/d", 0o755, me), "f"), "x", 0o644, me)
		}, ""},
		{"world-writable parent", 0, func(t *testing.T, root string) string {
			d := mkdir(t, root+"/d", 0o777, me)
			return write(t, filepath.Join(mkdir(t, d+"/launch.d", 0o755, me), "f"), "x", 0o644, me)
		}, "directory " + "ROOT/d: group- or world-writable (mode 0777)"},
		{"group-writable directory", 0, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/d", 0o775, me), "f"), "x", 0o644, me)
		}, "directory ROOT/d: group- or world-writable (mode 0775)"},
		{"directory of another user", 0, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/d", 0o755, otherUID), "f"), "x", 0o644, me)
		}, "directory ROOT/d: owned by uid 65534, not by root or the agent's user (uid 0)"},
		{"group-writable file", 0, func(t *testing.T, root string) string {
			return write(t, root+"/f", "x", 0o664, me)
		}, "group- or world-writable (mode 0664)"},
		{"file of another user", 0, func(t *testing.T, root string) string {
			return write(t, root+"/f", "x", 0o644, otherUID)
		}, "owned by uid 65534, not by root or the agent's user (uid 0)"},
		{"symlink into a world-writable directory", 0, func(t *testing.T, root string) string {
			target := write(t, filepath.Join(mkdir(t, root+"/open", 0o777, me), "f"), "x", 0o644, me)
			return symlink(t, target, filepath.Join(mkdir(t, root+"/d", 0o755, me), "f"), me)
		}, "directory ROOT/open: group- or world-writable (mode 0777)"},
		{"relative symlink through a world-writable directory", 0, func(t *testing.T, root string) string {
			mkdir(t, root+"/open", 0o777, me)
			write(t, filepath.Join(mkdir(t, root+"/open/sub", 0o755, me), "f"), "x", 0o644, me)
			return symlink(t, "../open/sub/f", filepath.Join(mkdir(t, root+"/d", 0o755, me), "f"), me)
		}, "directory ROOT/open: group- or world-writable (mode 0777)"},
		{"symlink of another user", 0, func(t *testing.T, root string) string {
			target := write(t, root+"/f", "x", 0o644, me)
			return symlink(t, target, root+"/link", otherUID)
		}, "symlink ROOT/link: owned by uid 65534"},
		{"symlinked directory on the way", 0, func(t *testing.T, root string) string {
			d := mkdir(t, root+"/real", 0o755, me)
			write(t, d+"/f", "x", 0o644, me)
			return filepath.Join(symlink(t, d, root+"/alias", me), "f")
		}, ""},
		{"sticky root directory, root's entry", 0, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/tmp", sticky, me), "f"), "x", 0o644, me)
		}, ""},
		{"sticky root directory, another user's entry", 0, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/tmp", sticky, me), "f"), "x", 0o644, otherUID)
		}, "owned by uid 65534"},
		{"sticky root directory, another user's link to root's file", 0, func(t *testing.T, root string) string {
			target := write(t, root+"/f", "x", 0o644, me)
			return symlink(t, target, filepath.Join(mkdir(t, root+"/tmp", sticky, me), "link"), otherUID)
		}, "symlink ROOT/tmp/link: owned by uid 65534"},
		{"sticky root directory, the agent's entry", otherUID, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/tmp", sticky, me), "f"), "x", 0o644, otherUID)
		}, ""},
		{"sticky directory of another user", 0, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/tmp", sticky, otherUID), "f"), "x", 0o644, me)
		}, "directory ROOT/tmp: owned by uid 65534"},
		{"sticky directory of the agent's user", otherUID, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/tmp", sticky, otherUID), "f"), "x", 0o644, otherUID)
		}, "directory ROOT/tmp: group- or world-writable (mode 0777)"},
		{"the agent's own file and directory", otherUID, func(t *testing.T, root string) string {
			return write(t, filepath.Join(mkdir(t, root+"/d", 0o755, otherUID), "f"), "x", 0o600, otherUID)
		}, ""},
		{"dangling symlink", 0, func(t *testing.T, root string) string {
			return symlink(t, root+"/nowhere", root+"/link", me)
		}, "dangling symlink (to ROOT/nowhere)"},
		{"symlink loop", 0, func(t *testing.T, root string) string {
			symlink(t, root+"/b", root+"/a", me)
			return symlink(t, root+"/a", root+"/b", me)
		}, "too many levels of symbolic links"},
		{"named pipe", 0, func(t *testing.T, root string) string {
			if err := syscall.Mkfifo(root+"/fifo", 0o644); err != nil {
				t.Fatal(err)
			}
			return root + "/fifo"
		}, "not a regular file (a named pipe)"},
		{"directory", 0, func(t *testing.T, root string) string {
			return mkdir(t, root+"/d", 0o755, me)
		}, "not a regular file (a directory)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir() // 0700, root's, in root's sticky /tmp
			path := tc.build(t, root)
			f, err := Policy{UID: tc.agent}.Open(path)
			if f != nil {
				f.Close()
			}
			want := strings.ReplaceAll(tc.want, "ROOT", root)
			switch {
			case want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case want != "" && err == nil:
				t.Errorf("accepted, want refused: %s", want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Errorf("refused with %q, want %q", err, want)
			}
		})
	}
}

// insecure_dropins lifts the owner and mode rules on the way and on the
// file, not the file-type rule.
func TestOpenInsecure(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	d := mkdir(t, root+"/d", 0o777, otherUID)
	f, err := Policy{Insecure: true}.Open(write(t, d+"/f", "x", 0o666, otherUID))
	if err != nil {
		t.Errorf("insecure: %v", err)
	} else {
		f.Close()
	}
	if _, err := (Policy{Insecure: true}).Open(d); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("insecure, a directory: %v", err)
	}
}

// Dir reports a missing directory as fs.ErrNotExist only when nobody else
// could create it: under a directory others can write to, the missing
// directory is a refusal.
func TestDirMissing(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	if err := Agent(false).Dir(root + "/launch.d"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing under a trusted parent: %v, want not-exist", err)
	}
	open := mkdir(t, root+"/open", 0o777, -1)
	err := Agent(false).Dir(open + "/launch.d")
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "directory "+open+": group- or world-writable") {
		t.Errorf("missing under a world-writable parent: %v, want a refusal naming the parent", err)
	}
	if err := Agent(false).Dir(write(t, root+"/f", "", 0o644, -1)); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
	if err := Agent(false).Dir(open); err == nil {
		t.Error("a world-writable directory itself was accepted")
	}
}

// Open returns the file it checked: what the caller reads is that file,
// even when the name points elsewhere a moment later.
func TestOpenReadsWhatItChecked(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "f")
	if err := os.WriteFile(path, []byte("checked"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Agent(false).Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	swapped := filepath.Join(root, "swapped")
	if err := os.WriteFile(swapped, []byte("swapped in"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(swapped, path); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := f.Read(buf)
	if got := string(buf[:n]); got != "checked" {
		t.Errorf("read %q, want the file that was checked", got)
	}
}
