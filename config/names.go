package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The stream name rule, in one place: the parser, the control protocol and
// the HTTP router all check names here.

// ValidName reports whether name is a valid stream name: 1 to MaxNameLen
// characters in '/'-separated segments, as Flussonic names streams
// (news/hd), each segment Latin letters, digits, '.', '-' and '_', and
// none empty, "." or "..". It does not allocate, so the HTTP router can
// check request paths with it.
func ValidName[S ~string | ~[]byte](name S) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	seg := 0 // start of the segment being read
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			if !nameByte(name[i]) {
				return false
			}
			continue
		}
		switch n := i - seg; {
		case n == 0, n == 1 && name[seg] == '.', n == 2 && name[seg] == '.' && name[seg+1] == '.':
			return false
		}
		seg = i + 1
	}
	return true
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// NameError is CheckName's error; Msg says what is wrong with Name in words
// another package can prefix with its own name.
type NameError struct{ Name, Msg string }

func (e *NameError) Error() string { return "config: " + e.Msg }

// CheckName checks a stream name by ValidName's rule; the error is a
// *NameError ("config: stream name "a b" has characters other than …").
func CheckName(name string) error {
	if msg := nameProblem(name); msg != "" {
		return &NameError{Name: name, Msg: msg}
	}
	return nil
}

// nameProblem says what is wrong with a stream name, "" if nothing.
func nameProblem(name string) string {
	if ValidName(name) {
		return ""
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return "stream name is empty"
	case n > MaxNameLen:
		return fmt.Sprintf("stream name %s is longer than %d characters", quote(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) && name[i] != '/' {
			return fmt.Sprintf("stream name %s has characters other than letters, digits, '.', '-', '_' and '/'", quote(name))
		}
	}
	if !strings.Contains(name, "/") {
		return fmt.Sprintf("stream name %s is not allowed", quote(name))
	}
	return fmt.Sprintf("stream name %s has an empty, '.' or '..' segment", quote(name))
}
