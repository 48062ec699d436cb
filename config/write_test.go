package config

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFormatStream(t *testing.T) {
	f := func(s Stream, want string) {
		t.Helper()
		got := string(FormatStream(s))
		if got != want {
			t.Errorf("FormatStream(%+v) =\n%s\nwant\n%s", s, got, want)
			return
		}
		c, err := Parse("t.conf", []byte(got), Options{})
		if err != nil {
			t.Errorf("Parse(%q): %v", got, err)
			return
		}
		if want := normalize(s); len(c.Streams) != 1 || !c.Streams[0].Equal(want) {
			t.Errorf("Parse(%q) = %+v, want %+v", got, c.Streams, want)
		}
	}
	f(stream("a", "udp://239.0.0.1:1234"), "stream a {\n  input udp://239.0.0.1:1234;\n}\n")

	s := stream("news.hd", "udp://eth1@239.0.0.1:1234", "rtp://239.0.0.2:5004")
	s.OnDemand = true
	s.Inputs[0].Priority = 1
	s.Inputs[1].Priority = 2
	s.Inputs[1].SourceTimeout = 1500 * time.Millisecond
	s.Inputs[1].Program = 101
	s.Inputs[1].RecvBuffer = 8 << 20
	s.SegmentDuration = 250 * time.Millisecond * 3
	s.SegmentCount = 10
	s.SourceTimeout = 5 * time.Second
	s.Inputs[0].SourceTimeout = 5 * time.Second // the stream's: not written
	s.ClientsTimeout = 0
	f(s, "ondemand news.hd {\n"+
		"  input udp://eth1@239.0.0.1:1234 priority=1;\n"+
		"  input rtp://239.0.0.2:5004 priority=2 source_timeout=1.5 program=101 rcvbuf=8M;\n"+
		"  segment_duration 0.75;\n"+
		"  segment_count 10;\n"+
		"  source_timeout 5;\n"+
		"  clients_timeout 0;\n"+
		"}\n")

	// Zero settings are the defaults; sizes without an exact suffix are bytes.
	s = Stream{Name: "z", ClientsTimeout: DefaultClientsTimeout, Inputs: []Input{
		{URL: "udp://239.0.0.1:1"}, {URL: "udp://239.0.0.1:2", RecvBuffer: 5000}, {URL: "udp://239.0.0.1:3", RecvBuffer: 1 << 30},
	}}
	f(s, "stream z {\n  input udp://239.0.0.1:1;\n  input udp://239.0.0.1:2 rcvbuf=5000;\n  input udp://239.0.0.1:3 rcvbuf=1G;\n}\n")

	// Values that need quotes.
	s = stream("q", `udp://239.0.0.1:1/a b;c{d}"e#f\`, "udp://239.0.0.1:2/#x", "udp://239.0.0.1:3/\u00a0é")
	s.SourceTimeout = time.Hour
	s.Inputs[0].SourceTimeout = time.Hour
	s.Inputs[1].SourceTimeout = time.Hour
	s.Inputs[2].SourceTimeout = time.Nanosecond * 500000001
	f(s, "stream q {\n"+
		`  input "udp://239.0.0.1:1/a b;c{d}\"e#f\\";`+"\n"+
		"  input udp://239.0.0.1:2/#x;\n"+
		"  input \"udp://239.0.0.1:3/\u00a0é\" source_timeout=0.500000001;\n"+
		"  source_timeout 3600;\n"+
		"}\n")
}

func TestAppendSeconds(t *testing.T) {
	f := func(d time.Duration, want string) {
		t.Helper()
		if got := string(appendSeconds(nil, d)); got != want {
			t.Errorf("appendSeconds(%v) = %q, want %q", d, got, want)
		}
		if d >= 0 {
			if back, ok := parseSeconds(want); !ok || back != d {
				t.Errorf("parseSeconds(%q) = %v, %v; want %v", want, back, ok, d)
			}
		}
	}
	f(0, "0")
	f(2*time.Second, "2")
	f(1500*time.Millisecond, "1.5")
	f(250*time.Millisecond, "0.25")
	f(time.Nanosecond, "0.000000001")
	f(time.Hour+time.Millisecond, "3600.001")
	f(24*time.Hour, "86400")
	f(-time.Second/2, "-0.5")
	// As the control protocol gives durations.
	f(time.Second+time.Nanosecond, "1.000000001")
	f(3600*time.Second+123456789, "3600.123456789")
	f(-1500*time.Millisecond, "-1.5")
}

// TestAppendValue checks that every value the lexer can read back comes back
// from appendValue as one token with the same text, bare when it can be.
func TestAppendValue(t *testing.T) {
	f := func(v string, quoted bool) {
		t.Helper()
		b := appendValue(nil, v)
		if (b[0] == '"') != quoted {
			t.Errorf("appendValue(%q) = %s, want quoted=%v", v, b, quoted)
		}
		src := string(b) + ";"
		lx := newLexer("t", src)
		tok, err := lx.next()
		if err != nil || (tok.kind != tokWord && tok.kind != tokString) || tok.text != v {
			t.Errorf("appendValue(%q) = %s, lexes to %+v, %v", v, b, tok, err)
			return
		}
		if tok, err := lx.next(); err != nil || tok.kind != tokSemi {
			t.Errorf("appendValue(%q) = %s, then %+v, %v", v, b, tok, err)
		}
	}
	f("plain", false)
	f(`back\slash`, false)
	f("a#b", false)
	f("é", false)
	f("", true)
	f("#a", true)
	f("a b", true)
	f("a\tb", true)
	f("a;b", true)
	f("a{b", true)
	f("a}b", true)
	f(`a"b`, true)
	f(`a\`, false)
	f(`a\"b`, true)
	f(`\\ \`, true)
	f(`\"`, true)
	f("a\u00a0b", true)
	f("a\u2003b", true)
	f(`"`, true)
	// The shortest quoting: a backslash not before a quote, a backslash or
	// the end stays single.
	if got := string(appendValue(nil, `a b\c`)); got != `"a b\c"` {
		t.Errorf("appendValue = %s", got)
	}
}

// randStream builds a valid stream from the allowed ranges.
func randStream(r *rand.Rand) Stream {
	const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
	var name []byte
	for len(name) == 0 || string(name) == "." || string(name) == ".." {
		name = name[:0]
		for range 1 + r.IntN(MaxNameLen) {
			name = append(name, nameChars[r.IntN(len(nameChars))])
		}
	}
	dur := func(lo, hi, def time.Duration) time.Duration {
		switch r.IntN(6) {
		case 0:
			return def
		case 1:
			return lo
		case 2:
			return hi
		case 3:
			return lo + time.Duration(r.Int64N(int64(hi-lo)/int64(time.Second)+1))*time.Second
		case 4:
			return lo + time.Duration(r.Int64N(int64(hi-lo)/int64(time.Millisecond)+1))*time.Millisecond
		}
		return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
	}
	s := Stream{
		Name:            string(name),
		OnDemand:        r.IntN(2) == 0,
		SegmentDuration: dur(MinSegmentDuration, MaxSegmentDuration, DefaultSegmentDuration),
		SegmentCount:    MinSegmentCount + r.IntN(MaxSegmentCount-MinSegmentCount+1),
		ChunkDuration:   MinChunkDuration + time.Duration(r.Int64N(int64((MaxChunkDuration-MinChunkDuration)/time.Millisecond)+1))*time.Millisecond,
		SourceTimeout:   dur(MinSourceTimeout, MaxSourceTimeout, DefaultSourceTimeout),
		ClientsTimeout:  dur(0, MaxClientsTimeout, DefaultClientsTimeout),
	}
	if r.IntN(3) == 0 {
		s.SegmentCount = DefaultSegmentCount
	}
	const odd = " ;{}\"\\#é\u00a0x"
	urls := map[string]bool{}
	for range 1 + r.IntN(4) {
		u := fmt.Sprintf("udp://239.%d.%d.%d:%d", r.IntN(256), r.IntN(256), r.IntN(256), 1+r.IntN(65535))
		if r.IntN(2) == 0 {
			u = fmt.Sprintf("rtp://eth%d@[ff02::%x]:%d", r.IntN(4), r.IntN(65536), 1+r.IntN(65535))
		}
		if r.IntN(3) == 0 {
			u += "/"
			for range 1 + r.IntN(8) {
				c := []rune(odd)
				u += string(c[r.IntN(len(c))])
			}
		}
		if urls[u] {
			continue
		}
		urls[u] = true
		in := Input{URL: u, SourceTimeout: s.SourceTimeout}
		if r.IntN(2) == 0 {
			in.Priority = r.IntN(MaxPriority + 1)
		}
		if r.IntN(2) == 0 {
			in.SourceTimeout = dur(MinSourceTimeout, MaxSourceTimeout, DefaultSourceTimeout)
		}
		if r.IntN(2) == 0 {
			in.Program = 1 + r.IntN(65535)
		}
		switch r.IntN(4) {
		case 0:
			in.RecvBuffer = 4096 + r.IntN(1<<30-4096+1)
		case 1:
			in.RecvBuffer = (1 + r.IntN(1024)) << 20
		}
		s.Inputs = append(s.Inputs, in)
	}
	return s
}

// TestFormatStreamRoundTrip checks Parse(FormatStream(s)) Equal s for
// random valid streams.
func TestFormatStreamRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		s := randStream(r)
		text := FormatStream(s)
		c, err := Parse("t.conf", text, Options{})
		if err != nil {
			t.Fatalf("%d: Parse(%q): %v", i, text, err)
		}
		if len(c.Streams) != 1 || !c.Streams[0].Equal(s) {
			t.Fatalf("%d: Parse(%q) =\n%+v\nwant\n%+v", i, text, c.Streams, s)
		}
	}
}

// handConf is a config with comments before, after and inside blocks,
// one-line forms, an indented block and statements sharing lines.
const handConf = `# slabcast test config
http 8080;   # listen
memory 64M;

# news channels
stream a udp://239.0.0.1:1234;  # one-line form
stream b {
  # primary feed
  input udp://239.0.0.2:1234 priority=1;   # trailing
  input udp://239.0.0.3:1234 priority=2;
  title "B channel";  # ignored
}
   # indented comment
	stream c udp://239.0.0.4:1234 { segment_count 5; }
ondemand d { input rtp://:5004; clients_timeout 60; } # after d
stream e udp://239.0.0.5:1; stream f udp://239.0.0.6:1;
# end of file`

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// modified returns a copy of s with changed settings.
func modified(s Stream) Stream {
	s.Inputs = append([]Input(nil), s.Inputs...)
	s.Inputs = append(s.Inputs, Input{URL: "udp://239.9.9.9:9999/a b", Priority: 7, SourceTimeout: 3 * time.Second})
	s.Inputs[0].RecvBuffer = 1 << 20
	if s.SegmentCount == 3 {
		s.SegmentCount = 4
	} else {
		s.SegmentCount = 3
	}
	s.OnDemand = !s.OnDemand
	s.ClientsTimeout = 1500 * time.Millisecond
	return s
}

// checkSet checks that SetStream replaced exactly the statement of s in src:
// the bytes around it are identical, the streams are those of src with s
// in its place, and no line ending differs from the file's.
func checkSet(t *testing.T, src string, s Stream) string {
	t.Helper()
	old := mustParse(t, src)
	i := indexStream(old.Streams, s.Name)
	if i < 0 {
		t.Fatalf("no stream %s", s.Name)
	}
	sp := old.Streams[i].Span
	out, err := SetStream("t.conf", []byte(src), s)
	if err != nil {
		t.Fatalf("SetStream(%s): %v", s.Name, err)
	}
	got := string(out)
	tail := len(src) - sp.End
	if len(got) < sp.Start+tail || got[:sp.Start] != src[:sp.Start] || got[len(got)-tail:] != src[sp.End:] {
		t.Fatalf("SetStream(%s) changed bytes outside %v:\n%s", s.Name, sp, got)
	}
	c := mustParse(t, got)
	want := append([]Stream(nil), old.Streams...)
	want[i] = s
	if len(c.Streams) != len(want) {
		t.Fatalf("SetStream(%s): %d streams, want %d", s.Name, len(c.Streams), len(want))
	}
	for j := range want {
		if !c.Streams[j].Equal(want[j]) {
			t.Fatalf("SetStream(%s): stream %d = %+v, want %+v", s.Name, j, c.Streams[j], want[j])
		}
	}
	if strings.Contains(src, "\r\n") && strings.Count(got, "\n") != strings.Count(got, "\r\n") {
		t.Fatalf("SetStream(%s) in a CRLF file wrote a bare LF:\n%q", s.Name, got)
	}
	return got
}

func TestSetStreamInPlace(t *testing.T) {
	flussonic, err := os.ReadFile("testdata/flussonic.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{string(flussonic), crlf(string(flussonic)), handConf, crlf(handConf), "\uFEFF" + crlf(handConf)} {
		for _, s := range mustParse(t, src).Streams {
			checkSet(t, src, modified(s))
			checkSet(t, src, s) // unchanged settings, rewritten layout
		}
	}

	// The new block takes the indentation of the line it starts on.
	c := mustParse(t, handConf).Streams[2]
	got := checkSet(t, handConf, stream("c", "udp://239.0.0.4:1234", "udp://239.0.0.7:1234"))
	want := handConf[:c.Span.Start] + "stream c {\n\t  input udp://239.0.0.4:1234;\n\t  input udp://239.0.0.7:1234;\n\t}" + handConf[c.Span.End:]
	if got != want {
		t.Errorf("SetStream(c) =\n%s\nwant\n%s", got, want)
	}
	// A one-line stream becomes a block; its trailing comment stays.
	got = checkSet(t, handConf, stream("a", "udp://239.0.0.1:1234"))
	if !strings.Contains(got, "\nstream a {\n  input udp://239.0.0.1:1234;\n}  # one-line form\nstream b {\n  # primary feed\n") {
		t.Errorf("SetStream(a) =\n%s", got)
	}
}

func TestSetStreamAppend(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		s := stream("new", "udp://239.1.1.1:1")
		s.SegmentCount = 8
		got, err := SetStream("t.conf", []byte(src), s)
		if err != nil {
			t.Errorf("SetStream(%q): %v", src, err)
			return
		}
		if string(got) != want {
			t.Errorf("SetStream(%q) =\n%q\nwant\n%q", src, got, want)
		}
		c := mustParse(t, string(got))
		if n := len(c.Streams); n == 0 || !c.Streams[n-1].Equal(s) {
			t.Errorf("SetStream(%q) streams %+v", src, c.Streams)
		}
	}
	block := "stream new {\n  input udp://239.1.1.1:1;\n  segment_count 8;\n}\n"
	f("", block)
	f("\uFEFF", "\uFEFF"+block)
	f("http 80;\n", "http 80;\n\n"+block)
	f("http 80;", "http 80;\n\n"+block)
	f("http 80;\n\n", "http 80;\n\n"+block)
	f("stream a udp://239.0.0.1:1; # last", "stream a udp://239.0.0.1:1; # last\n\n"+block)
	f("http 80;\r\n", "http 80;\r\n\r\n"+crlf(block))
	f("http 80;\r\n\r\n", "http 80;\r\n\r\n"+crlf(block))

	flussonic, err := os.ReadFile("testdata/flussonic.conf")
	if err != nil {
		t.Fatal(err)
	}
	f(string(flussonic), string(flussonic)+"\n"+block)
}

func TestRemoveStream(t *testing.T) {
	f := func(src, name, want string) {
		t.Helper()
		got, err := RemoveStream("t.conf", []byte(src), name)
		if err != nil {
			t.Errorf("RemoveStream(%q, %s): %v", src, name, err)
			return
		}
		if string(got) != want {
			t.Errorf("RemoveStream(%q, %s) =\n%q\nwant\n%q", src, name, got, want)
		}
		var names []string
		for _, s := range mustParse(t, src).Streams {
			if s.Name != name {
				names = append(names, s.Name)
			}
		}
		var left []string
		for _, s := range mustParse(t, string(got)).Streams {
			left = append(left, s.Name)
		}
		if fmt.Sprint(left) != fmt.Sprint(names) {
			t.Errorf("RemoveStream(%s) left %v, want %v", name, left, names)
		}
	}
	const src = "http 8080;\n\n# first\nstream a udp://239.0.0.1:1;\n\nstream b {\n  input udp://239.0.0.2:1;\n}\n\n" +
		"stream c udp://239.0.0.3:1; # trailing c\n\n# last\nstream d udp://239.0.0.4:1;\n"
	// first: the comment above stays
	f(src, "a", "http 8080;\n\n# first\n\nstream b {\n  input udp://239.0.0.2:1;\n}\n\n"+
		"stream c udp://239.0.0.3:1; # trailing c\n\n# last\nstream d udp://239.0.0.4:1;\n")
	// middle: one blank line stays between the neighbours
	f(src, "b", "http 8080;\n\n# first\nstream a udp://239.0.0.1:1;\n\n"+
		"stream c udp://239.0.0.3:1; # trailing c\n\n# last\nstream d udp://239.0.0.4:1;\n")
	// its trailing comment goes with it
	f(src, "c", "http 8080;\n\n# first\nstream a udp://239.0.0.1:1;\n\nstream b {\n  input udp://239.0.0.2:1;\n}\n\n"+
		"# last\nstream d udp://239.0.0.4:1;\n")
	// last
	f(src, "d", "http 8080;\n\n# first\nstream a udp://239.0.0.1:1;\n\nstream b {\n  input udp://239.0.0.2:1;\n}\n\n"+
		"stream c udp://239.0.0.3:1; # trailing c\n\n# last\n")
	f("http 80;\n\nstream a udp://239.0.0.1:1;\n", "a", "http 80;\n")
	f("stream a udp://239.0.0.1:1;\n\nstream b udp://239.0.0.1:2;", "b", "stream a udp://239.0.0.1:1;\n")
	// only
	f("stream a udp://239.0.0.1:1;\n", "a", "")
	f("stream a udp://239.0.0.1:1;", "a", "")
	f("\uFEFFondemand a {\n input udp://239.0.0.1:1;\n}\n", "a", "\uFEFF")
	f("  stream a { input udp://239.0.0.1:1; }  # x", "a", "")
	// at the start, a following blank line goes too
	f("stream a udp://239.0.0.1:1;\n\nstream b udp://239.0.0.1:2;\n", "a", "stream b udp://239.0.0.1:2;\n")
	f("stream a udp://239.0.0.1:1;\r\n\r\nstream b udp://239.0.0.1:2;\r\n", "a", "stream b udp://239.0.0.1:2;\r\n")
	f("stream a udp://239.0.0.1:1;\r\n\r\nstream b udp://239.0.0.1:2;\r\n", "b", "stream a udp://239.0.0.1:1;\r\n")
	// sharing a line
	f("stream a udp://239.0.0.1:1; stream b udp://239.0.0.1:2; # both\n", "a", "stream b udp://239.0.0.1:2; # both\n")
	f("stream a udp://239.0.0.1:1; stream b udp://239.0.0.1:2; # both\n", "b", "stream a udp://239.0.0.1:1; # both\n")
	f("http 80;stream a udp://239.0.0.1:1;memory 64M;\n", "a", "http 80;memory 64M;\n")

	flussonic, err := os.ReadFile("testdata/flussonic.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{string(flussonic), crlf(string(flussonic)), handConf, crlf(handConf)} {
		for _, s := range mustParse(t, src).Streams {
			got, err := RemoveStream("t.conf", []byte(src), s.Name)
			if err != nil {
				t.Fatalf("RemoveStream(%s): %v", s.Name, err)
			}
			// Everything before the statement's line and after its
			// line's end is kept (up to one blank line).
			bol := lineStart([]byte(src), s.Span.Start)
			if !strings.HasPrefix(string(got), src[:max(0, bol-3)]) {
				t.Fatalf("RemoveStream(%s) changed bytes before the statement:\n%s", s.Name, got)
			}
			after := src[lineEnd([]byte(src), s.Span.End):]
			after = strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(after, "\n"), "\r\n"), "\r\n")
			if !strings.HasSuffix(string(got), after) {
				t.Fatalf("RemoveStream(%s) changed bytes after the statement:\n%s", s.Name, got)
			}
			if strings.Contains(src, "\r\n") && strings.Count(string(got), "\n") != strings.Count(string(got), "\r\n") {
				t.Fatalf("RemoveStream(%s) left a bare LF:\n%q", s.Name, got)
			}
			for _, w := range []string{"# Remote sources", "# Global settings", "# news channels", "# end of file", "# indented comment"} {
				if strings.Contains(src, w) && !strings.Contains(string(got), w) {
					t.Fatalf("RemoveStream(%s) lost comment %q", s.Name, w)
				}
			}
		}
	}
}

func TestEditErrors(t *testing.T) {
	good := []byte("stream a udp://239.0.0.1:1;\n")
	f := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("err = %v, want one with %q", err, want)
		}
	}
	bad := []byte("stream a {\n  input udp://239.0.0.1:1;\n")
	_, err := SetStream("x.conf", bad, stream("a", "udp://239.0.0.1:2"))
	f(err, "x.conf:3:1: ")
	var pe *Error
	if !errors.As(err, &pe) {
		t.Errorf("SetStream error %T does not wrap *Error", err)
	}
	_, err = RemoveStream("x.conf", bad, "a")
	f(err, "x.conf:3:1: ")
	_, err = RemoveStream("x.conf", good, "b")
	f(err, `no such stream "b" in x.conf`)
	if !errors.Is(err, ErrNoStream) {
		t.Errorf("RemoveStream error does not wrap ErrNoStream")
	}

	// Streams that cannot be written: the source is not changed.
	f2 := func(s Stream, want string) {
		t.Helper()
		out, err := SetStream("x.conf", good, s)
		f(err, want)
		if out != nil {
			t.Errorf("SetStream returned %q with an error", out)
		}
	}
	f2(Stream{Name: "a"}, "has no input")
	f2(stream("", "udp://239.0.0.1:1"), "stream name is empty")
	f2(stream("a//b", "udp://239.0.0.1:1"), "stream name")
	f2(stream("a", "udp://239.0.0.1:1", "udp://239.0.0.1:1"), "already listed")
	f2(stream("a", "udp://239.0.0.1:1\nstream b udp://x:1;"), "not closed")
	f2(stream("a", "udp://239.0.0.1:1\x00"), "NUL")
	s := stream("a", "udp://239.0.0.1:1")
	s.SegmentCount = 1000
	f2(s, "segment_count")
	s = stream("a", "udp://239.0.0.1:1")
	s.Inputs[0].RecvBuffer = 10
	f2(s, "rcvbuf")
	s = stream("a", "udp://239.0.0.1:1")
	s.ClientsTimeout = -time.Second
	f2(s, "clients_timeout")
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "slabcast.conf")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	listing := func() []string {
		t.Helper()
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	if err := WriteFileAtomic(path, []byte("new content")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "new content" {
		t.Errorf("after write: %q, %v", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after write: %v, %v; want 0640", fi.Mode(), err)
	}
	if got := listing(); fmt.Sprint(got) != "[slabcast.conf]" {
		t.Errorf("directory holds %v", got)
	}

	// A new file gets 0644, even under a strict umask.
	fresh := filepath.Join(dir, "fresh.conf")
	if err := WriteFileAtomic(fresh, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode of new file: %v, %v; want 0644", fi.Mode(), err)
	}

	// A symbolic link stays a link to the replaced file.
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink("slabcast.conf", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(link, []byte("via link")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link replaced: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "via link" {
		t.Errorf("target holds %q", b)
	}
	os.Remove(link)
	os.Remove(fresh)

	// The temporary file cannot be created.
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x.conf"), []byte("x")); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("write into a missing directory: %v", err)
	}
	// The rename fails: path is a directory. Its content and the other
	// files are untouched, the temporary file is gone.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "keep"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(sub, []byte("x")); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("write over a directory: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(sub, "keep")); err != nil || string(b) != "kept" {
		t.Errorf("directory content: %q, %v", b, err)
	}
	if got := listing(); fmt.Sprint(got) != "[slabcast.conf sub]" {
		t.Errorf("directory holds %v after failures", got)
	}
	if b, _ := os.ReadFile(path); string(b) != "via link" {
		t.Errorf("file holds %q after failures", b)
	}
}

// TestWriteRoundOfChanges runs a round of control-socket style changes on a
// commented file through the disk and checks every comment survives.
func TestWriteRoundOfChanges(t *testing.T) {
	src, err := os.ReadFile("testdata/flussonic.conf")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slabcast.conf")
	if err := WriteFileAtomic(path, src); err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(b []byte) ([]byte, error)) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = fn(b); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(path, b); err != nil {
			t.Fatal(err)
		}
	}
	added := stream("added", "udp://239.7.7.7:7")
	edit(func(b []byte) ([]byte, error) { return SetStream(path, b, added) })
	edit(func(b []byte) ([]byte, error) { return RemoveStream(path, b, "sts.hd") })
	ntv := modified(mustParse(t, string(src)).Streams[1])
	edit(func(b []byte) ([]byte, error) { return SetStream(path, b, ntv) })
	c, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range c.Streams {
		names = append(names, s.Name)
	}
	if fmt.Sprint(names) != "[ort ntv tnt_backup ipcam-1 short_form added]" {
		t.Errorf("streams %v", names)
	}
	if s, _ := c.Stream("ntv"); !s.Equal(ntv) {
		t.Errorf("ntv = %+v, want %+v", s, ntv)
	}
	b, _ := os.ReadFile(path)
	for line := range strings.SplitSeq(string(src), "\n") {
		if strings.HasPrefix(line, "#") && !strings.Contains(string(b), line) {
			t.Errorf("comment %q lost", line)
		}
	}
	if !strings.Contains(string(b), "# one-line form") {
		t.Errorf("trailing comment lost")
	}
}

// FuzzEdit checks, for any config that parses and any stream of it, that
// SetStream with a changed copy, SetStream of a new stream and RemoveStream
// succeed, keep the bytes around the statement, and give a config that
// parses to the same streams but the edited one.
func FuzzEdit(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte, pick uint16, mod uint64) {
		c, err := Parse("f.conf", src, fuzzOptions)
		if err != nil {
			return
		}
		same := func(what string, out []byte, want []Stream) {
			t.Helper()
			got, err := Parse("f.conf", out, fuzzOptions)
			if err != nil {
				t.Fatalf("%s: result %q does not parse: %v", what, out, err)
			}
			if len(got.Streams) != len(want) {
				t.Fatalf("%s: %d streams, want %d", what, len(got.Streams), len(want))
			}
			for i := range want {
				if !got.Streams[i].Equal(want[i]) {
					t.Fatalf("%s: stream %d = %+v, want %+v", what, i, got.Streams[i], want[i])
				}
			}
			if d := Diff(c, got); len(d.Globals) != 0 {
				t.Fatalf("%s: globals changed %v", what, d.Globals)
			}
		}

		// Append a stream with a new name.
		add := fuzzStream("fuzz-new", mod)
		if _, dup := c.Stream(add.Name); !dup {
			out, err := SetStream("f.conf", src, add)
			if err != nil {
				t.Fatalf("SetStream(new): %v", err)
			}
			if !bytes.HasPrefix(out, src) {
				t.Fatalf("SetStream(new) changed the source: %q", out)
			}
			same("append", out, append(c.Streams[:len(c.Streams):len(c.Streams)], add))
		}
		if len(c.Streams) == 0 {
			return
		}
		i := int(pick) % len(c.Streams)
		old := c.Streams[i]

		s := fuzzModify(old, mod)
		out, err := SetStream("f.conf", src, s)
		if err != nil {
			t.Fatalf("SetStream(%s): %v", s.Name, err)
		}
		sp := old.Span
		tail := len(src) - sp.End
		if len(out) < sp.Start+tail || !bytes.Equal(out[:sp.Start], src[:sp.Start]) || !bytes.Equal(out[len(out)-tail:], src[sp.End:]) {
			t.Fatalf("SetStream(%s) changed bytes outside %v: %q", s.Name, sp, out)
		}
		want := append([]Stream(nil), c.Streams...)
		want[i] = s
		same("set", out, want)

		out, err = RemoveStream("f.conf", src, old.Name)
		if err != nil {
			t.Fatalf("RemoveStream(%s): %v", old.Name, err)
		}
		same("remove", out, append(c.Streams[:i:i], c.Streams[i+1:]...))
	})
}

// fuzzStream is a valid stream whose settings come from mod.
func fuzzStream(name string, mod uint64) Stream {
	s := stream(name, "udp://239.9.9.9:9999/a b\"#")
	return fuzzModify(s, mod)
}

// fuzzModify returns a valid copy of s with settings changed as mod says.
func fuzzModify(s Stream, mod uint64) Stream {
	s.Inputs = append([]Input(nil), s.Inputs...)
	bit := func(n uint) bool { return mod&(1<<n) != 0 }
	if bit(0) {
		s.OnDemand = !s.OnDemand
	}
	if bit(1) {
		s.SegmentCount = MinSegmentCount + int(mod>>8)%(MaxSegmentCount-MinSegmentCount+1)
	}
	if bit(2) {
		s.SegmentDuration = MinSegmentDuration + time.Duration(mod>>16)%(MaxSegmentDuration-MinSegmentDuration+1)
	}
	if bit(3) {
		s.ClientsTimeout = time.Duration(mod>>24) % (MaxClientsTimeout + 1)
	}
	if bit(4) && len(s.Inputs) > 0 {
		s.Inputs[0].Priority = int(mod>>32) % (MaxPriority + 1)
		s.Inputs[0].Program = int(mod>>40) % 65536
		s.Inputs[0].RecvBuffer = 4096 + int(mod>>20)%(1<<30-4096+1)
	}
	if bit(5) {
		d := MinSourceTimeout + time.Duration(mod>>12)%(MaxSourceTimeout-MinSourceTimeout+1)
		for i := range s.Inputs {
			if s.Inputs[i].SourceTimeout == s.SourceTimeout {
				s.Inputs[i].SourceTimeout = d
			}
		}
		s.SourceTimeout = d
	}
	if bit(6) && len(s.Inputs) > 1 {
		s.Inputs = s.Inputs[1:]
	}
	if bit(7) {
		u := fmt.Sprintf("udp://239.8.8.8:%d/{x};\\", 1+mod%65535)
		if !slicesContainsURL(s.Inputs, u) {
			s.Inputs = append(s.Inputs, Input{URL: u, SourceTimeout: s.SourceTimeout, Priority: 3})
		}
	}
	return s
}

func slicesContainsURL(ins []Input, u string) bool {
	for _, in := range ins {
		if in.URL == u {
			return true
		}
	}
	return false
}

// TestSetStreamLongValues checks values at the lexer's length limit: a bare
// word of MaxToken bytes and a quoted one just under it are written back as
// they were read, not lengthened past the limit.
func TestSetStreamLongValues(t *testing.T) {
	const prefix = "udp://239.0.0.1:1/"
	word := prefix + strings.Repeat("w", MaxToken-len(prefix))
	quoted := prefix + " " + strings.Repeat(`\x`, (MaxToken-1-len(prefix)-1)/2) // no escapes needed
	src := "stream a " + word + ";\nstream b { input \"" + quoted + "\"; }\n"
	c := mustParse(t, src)
	if len(c.Streams) != 2 || c.Streams[0].Inputs[0].URL != word || c.Streams[1].Inputs[0].URL != quoted {
		t.Fatalf("test config parses to %+v", c.Streams)
	}
	for _, s := range c.Streams {
		checkSet(t, src, s)
	}
	// One byte more does not fit: SetStream says so instead of writing it.
	if _, err := SetStream("t.conf", []byte(src), stream("a", word+"w")); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("SetStream with a too long value: %v", err)
	}
}
