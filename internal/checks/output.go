package checks

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// capture collects a process's stdout and stderr: it logs them line by line
// until OutputCap bytes have been logged, keeps the last OutputCap bytes for
// the status, and counts the rest. Memory stays bounded however much a
// script writes. os/exec copies the two streams from two goroutines, hence
// the mutex.
type capture struct {
	log zerolog.Logger

	mu       sync.Mutex
	tail     []byte // the last bytes written, between OutputCap and 2*OutputCap long once full
	total    int64
	logged   int   // bytes logged so far, both streams
	unlogged int64 // bytes past the logging cap
	streams  []*lineWriter
}

func newCapture(log zerolog.Logger) *capture {
	return &capture{log: log}
}

// stream returns the writer for one stream ("stdout" or "stderr").
func (c *capture) stream(name string) *lineWriter {
	w := &lineWriter{c: c, name: name}
	c.streams = append(c.streams, w)
	return w
}

// lineWriter splits one stream into log lines.
type lineWriter struct {
	c       *capture
	name    string
	partial []byte // the current line so far; never longer than OutputCap
}

func (w *lineWriter) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	c.keep(p)
	data := p
	for len(data) > 0 {
		if c.logged >= OutputCap {
			c.unlogged += int64(len(data))
			break
		}
		chunk, rest, eol := bytes.Cut(data, []byte{'\n'})
		data = rest
		if room := OutputCap - c.logged - len(w.partial); len(chunk) > room {
			// The line does not fit in what may still be logged: log the
			// part that fits and count the rest.
			w.partial = append(w.partial, chunk[:room]...)
			c.unlogged += int64(len(chunk) - room)
			w.emit()
			continue
		}
		w.partial = append(w.partial, chunk...)
		if eol {
			w.emit()
		}
	}
	return len(p), nil
}

// emit logs the current line; the caller holds c.mu.
func (w *lineWriter) emit() {
	w.c.logged += len(w.partial) + 1
	w.c.log.Info().Str("stream", w.name).Msg(sanitize(w.partial, false))
	w.partial = w.partial[:0]
}

// keep appends p to the tail, trimming it so it never exceeds 2*OutputCap.
func (c *capture) keep(p []byte) {
	if len(p) >= OutputCap {
		c.tail = append(c.tail[:0], p[len(p)-OutputCap:]...)
		return
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > 2*OutputCap {
		n := copy(c.tail, c.tail[len(c.tail)-OutputCap:])
		c.tail = c.tail[:n]
	}
}

// finish logs unfinished lines and what was not logged, and returns the
// kept tail and the total byte count. Call it after the process's Wait.
func (c *capture) finish() (string, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.streams {
		if len(w.partial) > 0 {
			w.emit()
		}
	}
	if c.unlogged > 0 {
		c.log.Info().Int64("bytes", c.unlogged).Msg("output past the first 4 KiB not logged")
	}
	return tailString(c.tail, c.total), c.total
}

// tailString returns the last OutputCap bytes of tail as valid UTF-8. When
// something came before them it starts at the first whole line, after a
// "…" line that says lines were left out: a status never shows half a
// line or half a word as if it were what the script printed.
func tailString(tail []byte, total int64) string {
	cut := len(tail) > OutputCap || int64(len(tail)) < total
	if len(tail) > OutputCap {
		tail = tail[len(tail)-OutputCap:]
	}
	if !cut {
		return sanitize(tail, true)
	}
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && i+1 < len(tail) {
		return "…\n" + sanitize(tail[i+1:], true)
	}
	// One line longer than the cap: do not start in the middle of a character.
	for i := 0; i < utf8.UTFMax && len(tail) > 0 && !utf8.RuneStart(tail[0]); i++ {
		tail = tail[1:]
	}
	return "…" + sanitize(tail, true)
}

// sanitize makes process output safe to log and to print on a terminal:
// invalid UTF-8 and control characters other than tab (and newline when
// multiline) become U+FFFD, and carriage returns are dropped.
func sanitize(b []byte, multiline bool) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == '\r':
			continue
		case r == '\t', r == '\n' && multiline:
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			r = utf8.RuneError
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
