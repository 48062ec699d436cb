package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that every error and warning
// points inside the input, and that what it accepts is valid: names follow
// the rules, every stream has inputs, settings are in range, and each
// stream's span parses alone to the same stream.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("f.conf", src, fuzzOptions)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			checkPlace(t, src, err.Error())
			return
		}
		for _, w := range c.Warnings {
			if !strings.HasSuffix(w, "more warnings not shown") {
				checkPlace(t, src, w)
			}
		}
		seen := map[string]bool{}
		for _, s := range c.Streams {
			if seen[s.Name] {
				t.Fatalf("stream %q twice", s.Name)
			}
			seen[s.Name] = true
			if n := len(s.Name); n == 0 || n > MaxNameLen || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_/") != "" ||
				!ValidName(s.Name) {
				t.Fatalf("invalid stream name %q", s.Name)
			}
			if len(s.Inputs) == 0 && s.Problem == "" {
				t.Fatalf("stream %q has no input and no problem", s.Name)
			}
			if s.SegmentDuration < MinSegmentDuration || s.SegmentDuration > MaxSegmentDuration ||
				s.SegmentCount < MinSegmentCount || s.SegmentCount > MaxSegmentCount ||
				s.SourceTimeout != Never && (s.SourceTimeout < MinSourceTimeout || s.SourceTimeout > MaxSourceTimeout) ||
				s.ClientsTimeout != Never && (s.ClientsTimeout < 0 || s.ClientsTimeout > MaxClientsTimeout) {
				t.Fatalf("stream %+v out of range", s)
			}
			for _, in := range s.Inputs {
				if in.SourceTimeout != Never && (in.SourceTimeout < MinSourceTimeout || in.SourceTimeout > MaxSourceTimeout) ||
					in.Priority < 0 || in.Priority > MaxPriority || checkURL(in.URL) != nil {
					t.Fatalf("stream %q input %+v invalid", s.Name, in)
				}
			}
			if s.Line < 1 || s.Col < 1 {
				t.Fatalf("stream %q at %d:%d", s.Name, s.Line, s.Col)
			}
		}
		if c.Memory < MinMemory || c.Memory > MaxMemory || len(c.HTTP) == 0 || c.Ctl == "" {
			t.Fatalf("globals %+v", c)
		}
		checkSpans(t, src, c)
	})
}

// checkPlace checks that msg starts with "f.conf:LINE:COL: " for a place
// inside src; COL may be one past the end of its line.
func checkPlace(t *testing.T, src []byte, msg string) {
	t.Helper()
	var line, col int
	var rest string
	if n, err := fmt.Sscanf(msg, "f.conf:%d:%d:%s", &line, &col, &rest); n != 3 || err != nil {
		t.Fatalf("message %q does not start with f.conf:LINE:COL:", msg)
	}
	lines := bytes.Split(src, []byte("\n"))
	if line < 1 || line > len(lines) {
		t.Fatalf("message %q: line outside 1..%d", msg, len(lines))
	}
	if max := utf8.RuneCount(lines[line-1]) + 1; col < 1 || col > max {
		t.Fatalf("message %q: column outside 1..%d", msg, max)
	}
}

// fuzzOptions keep the fuzzers off the file system: an include that names a
// file fails to read it.
var fuzzOptions = Options{ReadFile: func(path string) ([]byte, error) {
	return nil, errors.New("config: fuzzing reads no files")
}}
