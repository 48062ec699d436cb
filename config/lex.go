package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token of the config grammar.
type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokWord           // unquoted value or directive name
	tokString         // "quoted value"
	tokSemi           // ;
	tokOpen           // {
	tokClose          // }
)

// pos is a place in the source: byte offset, and 1-based line and column
// (the column counts runes).
type pos struct{ off, line, col int }

type token struct {
	kind tokKind
	text string // the value, unquoted and unescaped
	pos  pos    // where the token starts
	end  int    // byte offset just after the token
}

// lexer splits a config into tokens. It checks every byte it passes, comments
// included, so a file with NUL bytes, invalid UTF-8 or stray control
// characters is refused with the exact place, and it bounds token length.
type lexer struct {
	file string
	src  string
	p    pos
}

func newLexer(file, src string) *lexer {
	l := &lexer{file: file, src: src, p: pos{line: 1, col: 1}}
	if strings.HasPrefix(src, "\uFEFF") { // a byte order mark left by an editor
		l.p.off = len("\uFEFF")
	}
	return l
}

func (l *lexer) errAt(p pos, format string, args ...any) *Error {
	return &Error{File: l.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

// peekRune decodes the rune at the current offset and refuses bytes that have
// no place in a config file. It does not advance.
func (l *lexer) peekRune() (rune, int, *Error) {
	c := l.src[l.p.off]
	if c < utf8.RuneSelf {
		switch {
		case c == 0:
			return 0, 0, l.errAt(l.p, "NUL byte in config")
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r', c == 0x7f:
			return 0, 0, l.errAt(l.p, "control character U+%04X in config", c)
		}
		return rune(c), 1, nil
	}
	r, size := utf8.DecodeRuneInString(l.src[l.p.off:])
	switch {
	case r == utf8.RuneError && size == 1:
		return 0, 0, l.errAt(l.p, "invalid UTF-8 byte 0x%02x in config", c)
	case r >= 0x80 && r <= 0x9f:
		return 0, 0, l.errAt(l.p, "control character U+%04X in config", r)
	}
	return r, size, nil
}

// advance moves past a rune of size bytes that is not a newline.
func (l *lexer) advance(size int) {
	l.p.off += size
	l.p.col++
}

func (l *lexer) newline() {
	l.p.off++
	l.p.line++
	l.p.col = 1
}

func (l *lexer) next() (token, *Error) {
	for l.p.off < len(l.src) {
		start := l.p
		r, size, err := l.peekRune()
		if err != nil {
			return token{}, err
		}
		switch r {
		case '\n':
			l.newline()
		case ' ', '\t', '\r':
			l.advance(size)
		case '#':
			if err := l.skipComment(); err != nil {
				return token{}, err
			}
		case ';':
			l.advance(size)
			return token{kind: tokSemi, pos: start, end: l.p.off}, nil
		case '{':
			l.advance(size)
			return token{kind: tokOpen, pos: start, end: l.p.off}, nil
		case '}':
			l.advance(size)
			return token{kind: tokClose, pos: start, end: l.p.off}, nil
		case '"':
			return l.quoted()
		default:
			if unicode.IsSpace(r) {
				return token{}, l.errAt(start, "unexpected space character U+%04X; use a plain space", r)
			}
			return l.word()
		}
	}
	return token{kind: tokEOF, pos: l.p, end: l.p.off}, nil
}

func (l *lexer) skipComment() *Error {
	for l.p.off < len(l.src) {
		r, size, err := l.peekRune()
		if err != nil {
			return err
		}
		if r == '\n' {
			return nil
		}
		l.advance(size)
	}
	return nil
}

// ends reports whether r ends an unquoted word.
func ends(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', ';', '{', '}':
		return true
	}
	return false
}

func (l *lexer) word() (token, *Error) {
	start := l.p
	for l.p.off < len(l.src) {
		r, size, err := l.peekRune()
		if err != nil {
			return token{}, err
		}
		if ends(r) {
			break
		}
		if r == '"' && l.p.off > start.off && l.src[l.p.off-1] == '=' {
			return l.keyQuoted(start)
		}
		if r == '"' {
			return token{}, l.errAt(l.p, "unexpected '\"' inside a value; quote the whole value")
		}
		if r > utf8.RuneSelf && unicode.IsSpace(r) {
			return token{}, l.errAt(l.p, "unexpected space character U+%04X; use a plain space", r)
		}
		if l.p.off-start.off >= MaxToken {
			return token{}, l.errAt(start, "value is longer than %d bytes", MaxToken)
		}
		l.advance(size)
	}
	return token{kind: tokWord, text: l.src[start.off:l.p.off], pos: start, end: l.p.off}, nil
}

// keyQuoted reads the rest of a word of the form key="quoted value", as
// Flussonic's input options are written (user_agent="Agent 1.2"), from
// the opening quote: the token is the key, '=' and the unquoted value.
func (l *lexer) keyQuoted(start pos) (token, *Error) {
	key := l.src[start.off:l.p.off]
	v, err := l.quoted()
	if err != nil {
		return token{}, err
	}
	return token{kind: tokWord, text: key + v.text, pos: start, end: v.end}, nil
}

// quoted reads a "quoted value". Inside it, \" stands for a quote and \\ for
// a backslash; any other backslash is kept as it is. A quoted value ends on
// its own line.
func (l *lexer) quoted() (token, *Error) {
	start := l.p
	l.advance(1) // opening quote
	var b strings.Builder
	escaped := false // b holds the value so far
	from := l.p.off
	for {
		if l.p.off >= len(l.src) {
			return token{}, l.errAt(start, "quoted value is not closed before the end of the line")
		}
		if l.p.off-from >= MaxToken {
			return token{}, l.errAt(start, "value is longer than %d bytes", MaxToken)
		}
		r, size, err := l.peekRune()
		if err != nil {
			return token{}, err
		}
		switch r {
		case '\n':
			return token{}, l.errAt(start, "quoted value is not closed before the end of the line")
		case '"':
			text := l.src[from:l.p.off]
			if escaped {
				text = b.String()
			}
			l.advance(size)
			if l.p.off < len(l.src) {
				if r, _, err := l.peekRune(); err == nil && !ends(r) && r != '#' {
					return token{}, l.errAt(l.p, "expected a space, ';' or '{' after a quoted value")
				}
			}
			return token{kind: tokString, text: text, pos: start, end: l.p.off}, nil
		case '\\':
			if l.p.off+1 < len(l.src) && (l.src[l.p.off+1] == '"' || l.src[l.p.off+1] == '\\') {
				if !escaped {
					escaped = true
					b.WriteString(l.src[from:l.p.off])
				}
				b.WriteByte(l.src[l.p.off+1])
				l.advance(1)
				l.advance(1)
				continue
			}
		}
		if escaped {
			b.WriteString(l.src[l.p.off : l.p.off+size])
		}
		l.advance(size)
	}
}

// Quote formats a value for a message the way the parser's messages do:
// Go-quoted, shortened to 64 characters and an ellipsis if it is longer.
func Quote(s string) string { return quote(s) }

// quote formats a value for an error message, shortened if it is long.
func quote(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		n := 0
		for i := range s {
			if n == max {
				return fmt.Sprintf("%q…", s[:i])
			}
			n++
		}
	}
	return fmt.Sprintf("%q", s)
}
