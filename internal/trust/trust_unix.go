//go:build !windows

package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks followed in one path, as the kernel's own
// limit does: a loop of links must end in an error, not hang.
const maxLinks = 40

// Dir checks the directory dir and every component of the path to it. An
// error that wraps fs.ErrNotExist means that dir does not exist while
// everything that does exist on the way to it is trusted: nobody else can
// create it.
func (p Policy) Dir(dir string) error {
	resolved, fi, err := p.resolve(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &Error{Path: dir, Reason: "not a directory", Err: syscall.ENOTDIR}
	}
	return p.dirRule(resolved, fi)
}

// Open checks every component of the path to path (directories and
// symlinks, as Dir), opens the file it names without following a link
// there, and checks the open file: a regular file owned by root or the
// agent's user and writable by no one else. The caller reads or runs the
// returned file, never the path again, so nothing can be swapped in
// between. A named pipe or a device is refused before it is opened.
func (p Policy) Open(path string) (*os.File, error) {
	resolved, fi, err := p.resolve(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	// O_NONBLOCK: a named pipe swapped in since the Lstat must not hang
	// the open; O_NOFOLLOW: nor may a link.
	f, err := os.OpenFile(resolved, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := p.openRule(path, f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openRule checks the open file f, named path in messages.
func (p Policy) openRule(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular(path, fi.Mode())
	}
	if p.Insecure {
		return nil
	}
	if why := p.ownerWhy(fi); why != "" {
		return &Error{Path: path, Reason: why}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &Error{Path: path, Reason: fmt.Sprintf("group- or world-writable (mode %04o)", perm)}
	}
	return nil
}

// resolve walks path from / one component at a time, as the kernel would,
// applying the directory rule to every directory it passes through and the
// owner rule to every symlink it follows. It returns the path with no
// symlink left and the Lstat of its last component, which it does not
// check: the caller knows what it wants there.
func (p Policy) resolve(path string) (string, fs.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	cur := "/"
	fi, err := os.Lstat(cur)
	if err != nil {
		return "", nil, err
	}
	if err := p.dirRule(cur, fi); err != nil {
		return "", nil, err
	}
	todo := components(abs)
	links, lastLinkFinal, via := 0, false, ""
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		next := filepath.Join(cur, name) // ".." of a resolved path is its parent
		if fi, err = os.Lstat(next); err != nil {
			if lastLinkFinal && errors.Is(err, fs.ErrNotExist) {
				return "", nil, &Error{Path: path, Reason: "dangling symlink (to " + via + ")", Err: err}
			}
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxLinks {
				return "", nil, &Error{Path: path, Reason: "too many levels of symbolic links", Err: syscall.ELOOP}
			}
			if err := p.linkRule(next, fi); err != nil {
				return "", nil, err
			}
			if via, err = os.Readlink(next); err != nil {
				return "", nil, err
			}
			if filepath.IsAbs(via) {
				cur = "/"
			}
			lastLinkFinal = len(todo) == 0
			todo = append(components(via), todo...)
			continue
		}
		if len(todo) > 0 {
			if !fi.IsDir() {
				return "", nil, &fs.PathError{Op: "open", Path: next, Err: syscall.ENOTDIR}
			}
			if err := p.dirRule(next, fi); err != nil {
				return "", nil, err
			}
		}
		cur = next
	}
	return cur, fi, nil
}

// components splits a path into its names, without empty ones and ".".
func components(path string) []string {
	var out []string
	for _, c := range strings.Split(filepath.Clean(path), "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// dirRule: a directory owned by root or the agent's user, and writable by
// no one else unless it is sticky and root's (others may add entries
// there, but not rename or remove root's, or the agent's).
func (p Policy) dirRule(path string, fi fs.FileInfo) error {
	if p.Insecure {
		return nil
	}
	if why := p.ownerWhy(fi); why != "" {
		return &Error{Kind: "directory", Path: path, Reason: why}
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 && (fi.Mode()&fs.ModeSticky == 0 || uid(fi) != 0) {
		return &Error{Kind: "directory", Path: path, Reason: fmt.Sprintf("group- or world-writable (mode %04o)", perm)}
	}
	return nil
}

// linkRule: a symlink owned by root or the agent's user. Its mode means
// nothing (Linux ignores it); its owner could point it elsewhere.
func (p Policy) linkRule(path string, fi fs.FileInfo) error {
	if p.Insecure {
		return nil
	}
	if why := p.ownerWhy(fi); why != "" {
		return &Error{Kind: "symlink", Path: path, Reason: why}
	}
	return nil
}

// ownerWhy says why fi's owner is not trusted, or "" when it is.
func (p Policy) ownerWhy(fi fs.FileInfo) string {
	if u := uid(fi); u != 0 && u != p.UID {
		return fmt.Sprintf("owned by uid %d, not by root or the agent's user (uid %d)", u, p.UID)
	}
	return ""
}

// uid is fi's owner; -1 (nobody trusted) when the system does not say.
func uid(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
