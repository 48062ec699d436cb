package config

// The config writer: the control socket changes one stream at a time and
// writes the file back. Only the changed statement's bytes are rewritten, so
// the operator's comments and layout elsewhere survive; every edit is checked
// by parsing its result before it is returned.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// ErrNoStream is wrapped by the errors of RemoveStream for a name the config
// does not have.
var ErrNoStream = errors.New("config: no such stream")

// acceptURLs is the parse option of the writer: it edits syntax and leaves
// judging input URLs to whoever built the Stream (the daemon parses with its
// own CheckInput), so it never refuses a file the daemon accepted.
// It edits one file: includes in it are kept, not read.
var acceptURLs = Options{CheckInput: func(string) error { return nil }, noInclude: true}

// FormatStream renders s as a config statement that Parse reads back Equal
// to s: a `stream NAME {` (or `ondemand NAME {`) block with one input line
// per input and the stream settings, indented by two spaces and ended by
// "}\n".
//
// Only what differs from what the parser would fill in is written (see
// Settings): an input option when it is set and, for one inherited from the
// stream (source_timeout=), when it differs from the stream's value; a
// stream setting when it differs from its default. A zero value stands for
// "absent" (the default, or the inherited value) wherever zero is not a
// value the setting can take: segment_duration 0 is not written and reads
// back as the default, clients_timeout 0 is a real value and is written.
// Durations are seconds in the shortest exact decimal ("2", "1.5",
// "0.000000001"), sizes use a K, M or G suffix when exact. Values that the
// lexer would otherwise split or misread are quoted.
//
// FormatStream does not validate s: a stream that breaks the config rules
// (no input, a value out of range, a value with a newline) is rendered as
// it is and fails to parse. SetStream checks.
func FormatStream(s Stream) []byte {
	return appendStream(nil, s)
}

func appendStream(b []byte, s Stream) []byte {
	switch {
	case s.Live:
		b = append(b, "live "...)
	case s.OnDemand:
		b = append(b, "ondemand "...)
	default:
		b = append(b, "stream "...)
	}
	b = appendValue(b, s.Name)
	b = append(b, " {\n"...)
	eff := normalize(s) // the stream values inputs inherit
	for _, in := range s.Inputs {
		b = append(b, "  input "...)
		b = appendValue(b, in.URL)
		for _, set := range Settings {
			if set.Scope == PerInput && set.InputGiven(&eff, &in) {
				b = append(b, ' ')
				b = appendValue(b, set.Name+"="+set.InputText(&in))
			}
		}
		if in.Extra != "" {
			b = append(b, ' ')
			b = append(b, in.Extra...)
		}
		b = append(b, ";\n"...)
	}
	for _, set := range Settings {
		if set.Scope != PerStream {
			continue
		}
		p := set.ptr(nil, &s, nil)
		v := set.text(p)
		if isZero(p) && set.zeroAbsent() || v == set.Default {
			continue
		}
		b = append(b, "  "...)
		b = append(b, set.Name...)
		b = append(b, ' ')
		if set.Kind == Words {
			for i, w := range strings.Fields(v) {
				if i > 0 {
					b = append(b, ' ')
				}
				b = appendValue(b, w)
			}
		} else {
			b = appendValue(b, v)
		}
		b = append(b, ";\n"...)
	}
	for _, x := range s.Extra {
		b = append(b, "  "...)
		b = append(b, x...)
		b = append(b, '\n')
	}
	return append(b, "}\n"...)
}

// inherited is the value the PerInput setting set takes from stream s when
// the input does not give it.
func inherited(set *Setting, s *Stream) string {
	return Lookup(PerStream, set.Inherit).StreamText(s)
}

// needsQuote reports whether v cannot be written as a bare word: it is
// empty, starts a comment, holds a character that ends a word or a quote,
// or a space character the lexer refuses outside quotes.
func needsQuote(v string) bool {
	if v == "" || v[0] == '#' {
		return true
	}
	for _, r := range v {
		if ends(r) || r == '"' || r >= utf8.RuneSelf && unicode.IsSpace(r) {
			return true
		}
	}
	return false
}

// appendValue writes v as a word, or quoted when it needs to be. Inside
// quotes `\"` is a quote and `\\` a backslash, and any other backslash is
// literal; a backslash is escaped only where it would otherwise start one of
// those escapes, so the quoted text is as short as the lexer allows.
func appendValue(b []byte, v string) []byte {
	if !needsQuote(v) {
		return append(b, v...)
	}
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			if i+1 == len(v) || v[i+1] == '"' || v[i+1] == '\\' {
				b = append(b, `\\`...)
			} else {
				b = append(b, '\\')
			}
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// normalize fills in what Parse fills in for a stream written by
// FormatStream: the defaults for absent settings and each input's inherited
// values.
func normalize(s Stream) Stream {
	s.Inputs = append([]Input(nil), s.Inputs...)
	fillDefaults(&s, func(set *Setting) bool {
		return set.zeroAbsent() && isZero(set.ptr(nil, &s, nil))
	}, func(in *Input, set *Setting) bool {
		return isZero(set.ptr(nil, nil, in))
	})
	return s
}

// SetStream returns src with the stream or ondemand statement named s.Name
// replaced by FormatStream(s), or, when src has no stream of that name, with
// it appended at the end. src is not modified.
//
// A replacement keeps every byte before the statement's Span.Start and
// after its Span.End, so comments and layout around it and in other blocks
// survive; what was inside the statement is replaced, comments included,
// but the statements slabcast keeps without acting on them (Stream.Extra,
// Input.Extra) go into the new block when s has none of its own (see
// keepExtra). src is one file: includes in it are not read. The new block takes the file's line ending (that of
// its first line: "\r\n" or "\n") and its lines after the first are indented
// like the line the old statement started on. An appended block goes after
// a newline if src does not end with one, and after a blank line when src
// has content, to separate it from the block before.
//
// src must parse (file names it in the errors; input URLs are not checked,
// that is the caller's part). The result is parsed before it is returned: it
// must hold the same global settings and the same streams in the same order,
// with s (its zero settings read as defaults, see FormatStream) in its place;
// otherwise, e.g. when s has no input or a value out of range, SetStream
// returns an error that says what is wrong with s.
func SetStream(file string, src []byte, s Stream) ([]byte, error) {
	old, err := Parse(file, src, acceptURLs)
	if err != nil {
		return nil, fmt.Errorf("config: cannot edit: %w", err)
	}
	if i := indexStream(old.Streams, s.Name); i >= 0 {
		s = keepExtra(s, old.Streams[i])
	}
	want := normalize(s)
	block := FormatStream(s)
	if one, err := Parse("stream "+strconv.Quote(s.Name), block, acceptURLs); err != nil {
		return nil, fmt.Errorf("config: cannot write stream: %w", err)
	} else if len(one.Streams) != 1 || !one.Streams[0].Equal(want) {
		return nil, fmt.Errorf("config: stream %s does not read back as written", quote(s.Name))
	}
	eol := lineEnding(src)
	streams := append([]Stream(nil), old.Streams...)
	var out []byte
	if i := indexStream(old.Streams, s.Name); i >= 0 {
		sp := old.Streams[i].Span
		indent := indentBefore(src, sp.Start)
		block = bytes.TrimSuffix(block, []byte("\n"))
		out = make([]byte, 0, len(src)+len(block)*2)
		out = append(out, src[:sp.Start]...)
		out = appendLines(out, block, eol, indent)
		out = append(out, src[sp.End:]...)
		streams[i] = want
	} else {
		out = make([]byte, 0, len(src)+len(block)*2)
		out = append(out, src...)
		if content := bytes.TrimPrefix(src, []byte("\uFEFF")); len(content) > 0 {
			if content[len(content)-1] != '\n' {
				out = append(out, eol...)
			}
			if !bytes.HasSuffix(out, []byte("\n\n")) && !bytes.HasSuffix(out, []byte("\n\r\n")) {
				out = append(out, eol...)
			}
		}
		out = appendLines(out, block, eol, nil)
		streams = append(streams, want)
	}
	if err := check(file, old, out, streams); err != nil {
		return nil, err
	}
	return out, nil
}

// keepExtra gives s what old keeps but does not act on, where s has none of
// its own: a stream changed through the control socket (which carries only
// what slabcast acts on) keeps its ignored directives, its inputs of other
// schemes and its inputs' ignored options, so an update never drops the
// operator's on_play (and with it the reason the stream does not start).
func keepExtra(s, old Stream) Stream {
	if s.Extra == nil {
		s.Extra = old.Extra
	}
	s.Inputs = append([]Input(nil), s.Inputs...)
	for i := range s.Inputs {
		for _, o := range old.Inputs {
			if in := &s.Inputs[i]; in.URL == o.URL && in.Extra == "" {
				in.Extra = o.Extra
			}
		}
	}
	return s
}

// RemoveStream returns src without the stream or ondemand statement called
// name; src is not modified. It fails with an error wrapping ErrNoStream
// when there is no such stream, and with a parse error when src does not
// parse.
//
// What goes with the statement:
//   - When the statement stands on its own lines (only spaces before it on
//     its first line, and only spaces or a comment after it on its last),
//     those whole lines go, the trailing comment included: it is about the
//     statement (`stream x udp://…;  # old feed`). If that leaves two blank
//     lines together, or a blank line at the start or end of the file, one
//     of them goes too, so the blocks stay separated by one blank line.
//   - Otherwise (it shares a line with another statement) only the
//     statement and the spaces that separated it go; a comment at the end
//     of the line stays, it may be about the other statement.
//
// Comments on the lines above the statement are kept: they may be a section
// heading for what follows as much as a note about this stream, and a
// leftover comment is easier to spot and delete than a lost one.
func RemoveStream(file string, src []byte, name string) ([]byte, error) {
	old, err := Parse(file, src, acceptURLs)
	if err != nil {
		return nil, fmt.Errorf("config: cannot edit: %w", err)
	}
	i := indexStream(old.Streams, name)
	if i < 0 {
		return nil, fmt.Errorf("%w %s in %s", ErrNoStream, quote(name), file)
	}
	sp := old.Streams[i].Span
	from, to := removal(src, sp)
	out := make([]byte, 0, len(src)-(to-from))
	out = append(out, src[:from]...)
	out = append(out, src[to:]...)
	streams := append(old.Streams[:i:i], old.Streams[i+1:]...)
	if err := check(file, old, out, streams); err != nil {
		return nil, err
	}
	return out, nil
}

// removal returns the byte range RemoveStream cuts for the statement at sp.
func removal(src []byte, sp Span) (from, to int) {
	bol := lineStart(src, sp.Start)
	if !blank(src[bol:sp.Start]) {
		// Shares its line with a statement before it: take the statement and
		// the spaces before it.
		from = sp.Start
		for from > bol && (src[from-1] == ' ' || src[from-1] == '\t') {
			from--
		}
		return from, sp.End
	}
	to = sp.End
	for to < len(src) && (src[to] == ' ' || src[to] == '\t' || src[to] == '\r') {
		to++
	}
	if to < len(src) && src[to] == '#' {
		if n := bytes.IndexByte(src[to:], '\n'); n >= 0 {
			to += n + 1
		} else { // the comment runs to the end of the file
			to = len(src)
		}
	} else if to < len(src) && src[to] == '\n' {
		to++
	} else if to < len(src) {
		// Another statement follows on the line: take the statement and the
		// spaces after it, keep the indentation for what follows.
		for to < len(src) && (src[to] == ' ' || src[to] == '\t') {
			to++
		}
		return sp.Start, to
	}
	from = bol
	// Keep one blank line between blocks, none at the start or end.
	prevBlank := from == bomLen(src) || blank(src[lineStart(src, from-1):from-1])
	switch {
	case to < len(src) && prevBlank:
		if end := lineEnd(src, to); blank(src[to:end]) && end < len(src) {
			to = end + 1
		}
	case to == len(src) && from > bomLen(src) && prevBlank:
		from = lineStart(src, from-1)
	}
	return from, to
}

// check parses out and checks that it holds the global settings of old and
// exactly streams, in order.
func check(file string, old *Config, out []byte, streams []Stream) error {
	got, err := Parse(file, out, acceptURLs)
	if err != nil {
		return fmt.Errorf("config: edited config does not parse: %w", err)
	}
	if ch := Diff(old, got); len(ch.Globals) != 0 {
		return fmt.Errorf("config: edit changed the global settings %v", ch.Globals)
	}
	if len(got.Streams) != len(streams) {
		return fmt.Errorf("config: edited config has %d streams, want %d", len(got.Streams), len(streams))
	}
	for i := range streams {
		if !got.Streams[i].Equal(streams[i]) {
			return fmt.Errorf("config: edited config reads stream %s differently", quote(streams[i].Name))
		}
	}
	return nil
}

func indexStream(streams []Stream, name string) int {
	for i := range streams {
		if streams[i].Name == name {
			return i
		}
	}
	return -1
}

// lineEnding returns the line ending of src's first line, "\n" if it has
// none.
func lineEnding(src []byte) []byte {
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		return []byte("\r\n")
	}
	return []byte("\n")
}

// appendLines appends text (lines separated by "\n", no final newline) with
// each "\n" turned into eol followed by indent.
func appendLines(b, text, eol, indent []byte) []byte {
	for {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			return append(b, text...)
		}
		b = append(b, text[:i]...)
		b = append(b, eol...)
		b = append(b, indent...)
		text = text[i+1:]
	}
}

// indentBefore returns the spaces and tabs from the start of off's line to
// off, or nil if anything else is there.
func indentBefore(src []byte, off int) []byte {
	pre := src[lineStart(src, off):off]
	if len(bytes.Trim(pre, " \t")) > 0 {
		return nil
	}
	return pre
}

// bomLen is the length of the byte order mark src starts with, if any.
func bomLen(src []byte) int {
	if bytes.HasPrefix(src, []byte("\uFEFF")) {
		return len("\uFEFF")
	}
	return 0
}

// lineStart returns the offset of the start of off's line, after a byte
// order mark on the first line.
func lineStart(src []byte, off int) int {
	i := bytes.LastIndexByte(src[:off], '\n') + 1
	if i == 0 {
		i = min(bomLen(src), off)
	}
	return i
}

// lineEnd returns the offset of the '\n' that ends off's line, or len(src).
func lineEnd(src []byte, off int) int {
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(src)
}

// blank reports whether b holds only spaces, tabs and carriage returns.
func blank(b []byte) bool {
	return len(bytes.Trim(b, " \t\r")) == 0
}

// WriteFileAtomic replaces the file at path with data so that a crash leaves
// either the old or the new content: it writes a temporary file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory.
//
// The new file gets the old one's permission bits (0644 when path does not
// exist) and, where the process may, its owner and group. When path is a
// symbolic link the file it points to is replaced and the link kept.
//
// On an error before the rename, path is untouched and the temporary file
// removed. An error from the final directory fsync means the new content is
// in place but may not survive a crash.
func WriteFileAtomic(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("config: write %s: %w", path, err)
		}
		path = real
	}
	mode := fs.FileMode(0o644)
	uid, gid := -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	tmp := f.Name()
	err = writeSync(f, data, mode, uid, gid)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("config: write %s: sync directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("config: write %s: sync directory: %w", path, err)
	}
	return nil
}

// writeSync sets the mode (and, if it may, the owner) of the new file f,
// writes data, fsyncs and closes f.
func writeSync(f *os.File, data []byte, mode fs.FileMode, uid, gid int) error {
	err := f.Chmod(mode)
	if err == nil && uid >= 0 {
		_ = f.Chown(uid, gid) // best effort: only a privileged process may give a file away
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
