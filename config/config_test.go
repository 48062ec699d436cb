package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("t.conf", []byte(src), Options{})
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return c
}

// stream builds an expected Stream with defaults and the given inputs.
func stream(name string, urls ...string) Stream {
	s := Stream{
		Name:            name,
		SegmentDuration: DefaultSegmentDuration,
		SegmentCount:    DefaultSegmentCount,
		ChunkDuration:   DefaultChunkDuration,
		SourceTimeout:   DefaultSourceTimeout,
		ClientsTimeout:  DefaultClientsTimeout,
	}
	for _, u := range urls {
		s.Inputs = append(s.Inputs, Input{URL: u, SourceTimeout: DefaultSourceTimeout})
	}
	return s
}

// httpText is the config's listeners as Diff compares them.
func httpText(c *Config) string { return Lookup(Global, "http").GlobalText(c) }

func TestParseGlobals(t *testing.T) {
	f := func(src, http, ctl string, cpus []int, memory int64) {
		t.Helper()
		c := mustParse(t, src)
		if httpText(c) != http || c.Ctl != ctl || !reflect.DeepEqual(c.CPUs, cpus) || c.Memory != memory {
			t.Errorf("Parse(%q) = http %q ctl %q cpus %v memory %d; want %q %q %v %d",
				src, httpText(c), c.Ctl, c.CPUs, c.Memory, http, ctl, cpus, memory)
		}
		if len(c.Streams) != 0 || len(c.Warnings) != 0 {
			t.Errorf("Parse(%q): streams %v warnings %v", src, c.Streams, c.Warnings)
		}
	}
	f("", DefaultHTTP, DefaultCtl, nil, DefaultMemory)
	f("# only a comment", DefaultHTTP, DefaultCtl, nil, DefaultMemory)
	f("\uFEFFhttp 80;", ":80", DefaultCtl, nil, DefaultMemory)
	f(";;", DefaultHTTP, DefaultCtl, nil, DefaultMemory)
	f("http 8080;", ":8080", DefaultCtl, nil, DefaultMemory)
	f("http 127.0.0.1:81;", "127.0.0.1:81", DefaultCtl, nil, DefaultMemory)
	f("http [::1]:82;", "[::1]:82", DefaultCtl, nil, DefaultMemory)
	f("http localhost:83;", "localhost:83", DefaultCtl, nil, DefaultMemory)
	f("http *:84;", ":84", DefaultCtl, nil, DefaultMemory)
	f("http :85;", ":85", DefaultCtl, nil, DefaultMemory)
	f(`http "8086";`, ":8086", DefaultCtl, nil, DefaultMemory)
	f("ctl /tmp/x.sock;", DefaultHTTP, "/tmp/x.sock", nil, DefaultMemory)
	f(`ctl "/tmp/with space.sock";`, DefaultHTTP, "/tmp/with space.sock", nil, DefaultMemory)
	f(`ctl "/tmp/q\"b\\s\n.sock";`, DefaultHTTP, `/tmp/q"b\s\n.sock`, nil, DefaultMemory)
	f("cpus 0-1;", DefaultHTTP, DefaultCtl, []int{0, 1}, DefaultMemory)
	f("cpus 3;", DefaultHTTP, DefaultCtl, []int{3}, DefaultMemory)
	f("cpus 5,0-2,1,1023;", DefaultHTTP, DefaultCtl, []int{0, 1, 2, 5, 1023}, DefaultMemory)
	f("memory 16M;", DefaultHTTP, DefaultCtl, nil, 16<<20)
	f("memory 2G;", DefaultHTTP, DefaultCtl, nil, 2<<30)
	f("memory 65536k;", DefaultHTTP, DefaultCtl, nil, 64<<20)
	f("memory 1024g;", DefaultHTTP, DefaultCtl, nil, 1<<40)
	f("memory 33554432;", DefaultHTTP, DefaultCtl, nil, 32<<20)
	f("http 1;\r\nctl c;\r\ncpus 1-2;\r\nmemory 1G;\r\n", ":1", "c", []int{1, 2}, 1<<30)
	f("http\t1 ;ctl c;cpus\n1 ; memory 1G #x\n;", ":1", "c", []int{1}, 1<<30)
}

// The limits on HTTP clients: defaults when absent, the file's values
// when given, and a clear error past their bounds.
func TestParseHTTPLimits(t *testing.T) {
	c := mustParse(t, "")
	if c.HTTPMaxConns != DefaultHTTPMaxConns || c.HTTPMaxConnsPerIP != DefaultHTTPMaxConnsPerIP ||
		c.HTTPStallTimeout != DefaultHTTPStallTimeout || c.HTTPSendBuffer != DefaultHTTPSendBuffer {
		t.Errorf("defaults: %d %d %v %d", c.HTTPMaxConns, c.HTTPMaxConnsPerIP, c.HTTPStallTimeout, c.HTTPSendBuffer)
	}
	c = mustParse(t, "http_max_connections 500;\nhttp_max_connections_per_ip 20;\nhttp_stall_timeout 2.5;\nhttp_send_buffer 64K;\n")
	if c.HTTPMaxConns != 500 || c.HTTPMaxConnsPerIP != 20 || c.HTTPStallTimeout != 2500*time.Millisecond || c.HTTPSendBuffer != 64<<10 {
		t.Errorf("given: %d %d %v %d", c.HTTPMaxConns, c.HTTPMaxConnsPerIP, c.HTTPStallTimeout, c.HTTPSendBuffer)
	}
	for src, want := range map[string]string{
		"http_max_connections 0;":        `t.conf:1:22: http_max_connections: "0" is out of range 1..4194304`,
		"http_stall_timeout 0.5;":        `t.conf:1:20: http_stall_timeout: "0.5" is out of range 1..600 seconds`,
		"http_send_buffer 1G;":           `t.conf:1:18: http_send_buffer: "1G" is above the maximum 64M`,
		"http_max_connections_per_ip x;": `t.conf:1:29: http_max_connections_per_ip: "x" is not a whole number`,
	} {
		_, err := Parse("t.conf", []byte(src), Options{})
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q): %v, want %s", src, err, want)
		}
	}
}

func TestParseStreams(t *testing.T) {
	f := func(src string, want ...Stream) {
		t.Helper()
		c := mustParse(t, src)
		if len(c.Streams) != len(want) {
			t.Fatalf("Parse(%q): %d streams, want %d: %+v", src, len(c.Streams), len(want), c.Streams)
		}
		for i, s := range c.Streams {
			if !s.Equal(want[i]) {
				t.Errorf("Parse(%q) stream %d =\n%+v\nwant\n%+v", src, i, s, want[i])
			}
		}
		if len(c.Warnings) != 0 {
			t.Errorf("Parse(%q): warnings %q", src, c.Warnings)
		}
	}
	const u1, u2 = "udp://239.0.0.1:1234", "udp://239.0.0.2:1234"
	f("stream a { input udp://239.0.0.1:1234; }", stream("a", u1))
	f("stream a udp://239.0.0.1:1234;", stream("a", u1))
	f("stream a udp://239.0.0.1:1234 { input udp://239.0.0.2:1234; }", stream("a", u1, u2))
	f("stream a{input udp://239.0.0.1:1234;}", stream("a", u1))
	f("stream a { url udp://239.0.0.1:1234; }", stream("a", u1))
	f(`stream "a" { input "udp://239.0.0.1:1234"; }`, stream("a", u1))
	f("stream a { # c\n input udp://239.0.0.1:1234; # c\n } # c", stream("a", u1))
	f("# c\nstream # c\n a # c\n { # c\n input # c\n udp://239.0.0.1:1234 # c\n ; # c\n } # c\n", stream("a", u1))
	f("stream A-z_0.9 udp://239.0.0.1:1234;", stream("A-z_0.9", u1))
	f("stream "+strings.Repeat("x", 64)+" udp://239.0.0.1:1234;", stream(strings.Repeat("x", 64), u1))

	od := stream("cam", u1)
	od.OnDemand = true
	f("ondemand cam { input udp://239.0.0.1:1234; }", od)
	f("ondemand cam udp://239.0.0.1:1234;", od)
	od.ClientsTimeout = 45500 * time.Millisecond
	f("ondemand cam { input udp://239.0.0.1:1234; clients_timeout 45.5; }", od)
	od.ClientsTimeout = 0
	f("ondemand cam { clients_timeout 0; input udp://239.0.0.1:1234; }", od)

	s := stream("a", u1)
	s.SegmentDuration = 500 * time.Millisecond
	s.SegmentCount = 3
	f("stream a { input udp://239.0.0.1:1234; segment_duration 0.5; segment_count 3; }", s)
	s.SegmentDuration = 60 * time.Second
	s.SegmentCount = 100
	f("stream a { input udp://239.0.0.1:1234; segment_duration 60; segment_count 100; }", s)
	s.SegmentDuration = 2123456789 * time.Nanosecond
	s.SegmentCount = 6
	f("stream a { input udp://239.0.0.1:1234; segment_duration 2.1234567891; }", s)

	s = stream("a", u1)
	s.ClientsTimeout = 5 * time.Second // accepted on a static stream too
	f("stream a { input udp://239.0.0.1:1234; clients_timeout 5; }", s)

	// source_timeout: the stream's applies to inputs without their own.
	s = stream("a", u1, u2, "rtp://:5000")
	s.SourceTimeout = 3 * time.Second
	s.Inputs[0].SourceTimeout = 3 * time.Second
	s.Inputs[1].SourceTimeout = 1500 * time.Millisecond
	s.Inputs[1].Priority = 2
	s.Inputs[2].SourceTimeout = 3 * time.Second
	s.Inputs[2].Priority = 1000
	f(`stream a {
		input udp://239.0.0.1:1234;
		input udp://239.0.0.2:1234 priority=2 source_timeout=1.5;
		input rtp://:5000 priority=1000;
		source_timeout 3;
	}`, s)

	// program= picks one program of a multi-program input.
	s = stream("a", u1)
	s.Inputs[0].Program = 2
	f("stream a { input udp://239.0.0.1:1234 program=2; }", s)
	s = stream("a", u1)
	s.Inputs[0].RecvBuffer = 64 << 10
	f("stream a { input udp://239.0.0.1:1234 rcvbuf=64K; }", s)

	// SPEC's URL forms pass the default check.
	f(`stream a {
		input udp://239.0.0.1:1234/10.0.0.1;
		input udp://eth0@239.0.0.2:1234;
		input udp://232.1.1.1:5000?source=10.1.1.1;
		input udp://10.0.0.5:5001;
		input udp://:5002;
		input udp://[ff15::1]:5003;
	}`, stream("a", "udp://239.0.0.1:1234/10.0.0.1", "udp://eth0@239.0.0.2:1234",
		"udp://232.1.1.1:5000?source=10.1.1.1", "udp://10.0.0.5:5001", "udp://:5002", "udp://[ff15::1]:5003"))

	f("stream a udp://239.0.0.1:1234; ondemand b { input udp://239.0.0.2:1234; } stream c udp://239.0.0.1:1234;",
		stream("a", u1), func() Stream { s := stream("b", u2); s.OnDemand = true; return s }(), stream("c", u1))
}

func TestParsePositions(t *testing.T) {
	src := "http 1;\n\n  stream a {\n  input udp://239.0.0.1:1234;\n}  # c\n" +
		"ondemand b udp://239.0.0.1:1234;\n" +
		"\t# ééé\n" +
		"\t ondemand\tc\n{input udp://239.0.0.1:1234 ;} "
	c := mustParse(t, src)
	want := []struct {
		line, col int
		text      string
	}{
		{3, 3, "stream a {\n  input udp://239.0.0.1:1234;\n}"},
		{6, 1, "ondemand b udp://239.0.0.1:1234;"},
		{8, 3, "ondemand\tc\n{input udp://239.0.0.1:1234 ;}"},
	}
	if len(c.Streams) != len(want) {
		t.Fatalf("%d streams", len(c.Streams))
	}
	for i, w := range want {
		s := c.Streams[i]
		if s.Line != w.line || s.Col != w.col || src[s.Span.Start:s.Span.End] != w.text {
			t.Errorf("stream %s at %d:%d span %q; want %d:%d %q", s.Name, s.Line, s.Col, src[s.Span.Start:s.Span.End], w.line, w.col, w.text)
		}
	}
	checkSpans(t, []byte(src), c)

	// Columns count characters, not bytes.
	c = mustParse(t, `title "ééé"; dvr x; stream s udp://239.0.0.1:1;`)
	if want := "t.conf:1:14: directive dvr is not supported by slabcast; ignored"; c.Warnings[1] != want {
		t.Errorf("warning %q, want %q", c.Warnings[1], want)
	}
	if s := c.Streams[0]; s.Line != 1 || s.Col != 21 || s.Span.Start != 23 {
		t.Errorf("stream at %d:%d offset %d, want 1:21 offset 23", s.Line, s.Col, s.Span.Start)
	}
}

func TestParseErrors(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		c, err := Parse("t.conf", []byte(src), Options{})
		if err == nil {
			t.Fatalf("Parse(%q) = %+v, want error %q", src, c, want)
		}
		if err.Error() != want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", src, err, want)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): error %T is not *Error", src, err)
		}
	}
	// The brief's examples.
	f("http 1;\n\nstream a { segment_duration abc; }", `t.conf:3:29: segment_duration: "abc" is not a number of seconds`)
	f("\n\n\n\nstream ch1 {\n  input udp://239.0.0.1:1234;\n", `t.conf:7:1: unexpected end of file: block "stream ch1" opened at 5:1 is not closed`)
	f("\nstream a//b udp://239.0.0.1:1234;", `t.conf:2:8: stream name "a//b" has an empty, '.' or '..' segment`)
	f("\nstream a/../b udp://239.0.0.1:1234;", `t.conf:2:8: stream name "a/../b" has an empty, '.' or '..' segment`)
	f("\nstream /a udp://239.0.0.1:1234;", `t.conf:2:8: stream name "/a" has an empty, '.' or '..' segment`)

	// Lexical.
	f("http 1;\x00", "t.conf:1:8: NUL byte in config")
	f("# é\x00", "t.conf:1:4: NUL byte in config")
	f("http é\xff;", "t.conf:1:7: invalid UTF-8 byte 0xff in config")
	f("http \x01;", "t.conf:1:6: control character U+0001 in config")
	f("http 1;\x7f", "t.conf:1:8: control character U+007F in config")
	f("http \u0085;", "t.conf:1:6: control character U+0085 in config")
	f("http\u00a01;", "t.conf:1:5: unexpected space character U+00A0; use a plain space")
	f("http \u00a01;", "t.conf:1:6: unexpected space character U+00A0; use a plain space")
	f("http a\"b\";", `t.conf:1:7: unexpected '"' inside a value; quote the whole value`)
	f("http \"a\"b;", "t.conf:1:9: expected a space, ';' or '{' after a quoted value")
	f("ctl \"/x\n\";", "t.conf:1:5: quoted value is not closed before the end of the line")
	f("ctl \"/x", "t.conf:1:5: quoted value is not closed before the end of the line")
	f("ctl "+strings.Repeat("x", MaxToken+1)+";", "t.conf:1:5: value is longer than 4096 bytes")
	f("ctl \""+strings.Repeat("x", MaxToken+1)+"\";", "t.conf:1:5: value is longer than 4096 bytes")
	f("\n   "+strings.Repeat("y", 1<<20), "t.conf:2:4: value is longer than 4096 bytes")

	// Structure.
	f("http 1", "t.conf:1:7: unexpected end of file: expected ';' after http")
	f("{", "t.conf:1:1: unexpected '{' without a directive")
	f("stream a { in/put x }", `t.conf:1:21: expected ';' after "in/put", found '}'`)
	f(strings.Repeat("{", 100000), "t.conf:1:1: unexpected '{' without a directive")
	f("\n }", "t.conf:2:2: unexpected '}': no block is open")
	f(`"http" 1;`, `t.conf:1:1: expected a directive name, found quoted value "http"`)
	f("stream a { input udp://239.0.0.1:1234 }", "t.conf:1:39: expected ';' after input, found '}'")
	f("stream a { input udp://239.0.0.1:1234; {", "t.conf:1:40: unexpected '{' without a directive")
	f("stream a { input udp://239.0.0.1:1234; \"x\"", `t.conf:1:40: expected a directive name, found quoted value "x"`)
	f("foo 1;", `t.conf:1:1: unknown directive "foo"`)
	f("stream a { input udp://239.0.0.1:1234; foo; }", `t.conf:1:40: unknown directive "foo"`)
	f("include /nonexistent/x.conf;", "t.conf:1:9: include: config: open /nonexistent/x.conf: no such file or directory")
	f("stream a { include x; }", "t.conf:1:12: include is only allowed at the top level, not inside a stream block")
	f("http 1 2;", `t.conf:1:8: http: unexpected value "2"`)
	f("http;", "t.conf:1:5: http: missing value")
	f("ctl /x { }", "t.conf:1:8: ctl does not take a block")
	f("http 1 { foo; }", `t.conf:1:10: unknown directive "foo"`)
	f("http 1 { api maybe; }", `t.conf:1:14: api: "maybe" is neither true nor false`)
	f("http 1;\nhttp :1;", `t.conf:2:6: http: ":1" is listed twice`)
	f("ctl a;\nctl a;", "t.conf:2:1: ctl is already set at line 1")
	f("input udp://239.0.0.1:1234;", "t.conf:1:1: input is only allowed inside a stream block")
	f("segment_count 3;", "t.conf:1:1: segment_count is only allowed inside a stream block")
	f("stream a { http 1; }", "t.conf:1:12: http is not allowed inside a stream block")
	f("stream a { input udp://239.0.0.1:1234;\nstream b { input udp://239.0.0.1:1234; }",
		"t.conf:2:1: stream is not allowed inside a stream block; is a '}' missing before it?")
	f("dvr x { a { b { c { d { e { f { g { h { i { j { k { l { m { n { o { p { } } } } } } } } } } } } } } } } }",
		"t.conf:1:71: blocks nested deeper than 16 levels")
	f("auth_backend b {\n  backend http://x;\n", `t.conf:3:1: unexpected end of file: block "auth_backend b" opened at 1:1 is not closed`)
	f("stream a {", `t.conf:1:11: unexpected end of file: block "stream a" opened at 1:1 is not closed`)
	f("stream a { dvr /s { x;", `t.conf:1:23: unexpected end of file: block "dvr /s" opened at 1:12 is not closed`)

	// Globals.
	f("http 0;", `t.conf:1:6: http: "0" port is not 1..65535`)
	f("http 65536;", `t.conf:1:6: http: "65536" port is not 1..65535`)
	f("http 1.2.3.4:99999;", `t.conf:1:6: http: "1.2.3.4:99999" port is not 1..65535`)
	f("http 1.2.3.4;", `t.conf:1:6: http: "1.2.3.4" is not PORT, ADDR:PORT or [IPv6]:PORT`)
	f("http ::1:80;", `t.conf:1:6: http: "::1:80" is not PORT, ADDR:PORT or [IPv6]:PORT`)
	f("http a_b:80;", `t.conf:1:6: http: "a_b:80" has an address that is neither an IP address nor a host name`)
	f(`ctl "";`, "t.conf:1:5: ctl: empty socket path")
	f("ctl /"+strings.Repeat("s", 107)+";", "t.conf:1:5: ctl: socket path is longer than 107 bytes")
	f("cpus ;", "t.conf:1:6: cpus: missing value")
	f("cpus a;", `t.conf:1:6: cpus: "a" is not a CPU list like 0-3,6`)
	f("cpus 1,;", `t.conf:1:6: cpus: "1," is not a CPU list like 0-3,6`)
	f("cpus 1-;", `t.conf:1:6: cpus: "1-" is not a CPU list like 0-3,6`)
	f("cpus -1;", `t.conf:1:6: cpus: "-1" is not a CPU list like 0-3,6`)
	f("cpus 3-1;", `t.conf:1:6: cpus: "3-1" has range 3-1 going down`)
	f("cpus 0-1024;", `t.conf:1:6: cpus: "0-1024" names a CPU above 1023`)
	f("cpus 2000;", `t.conf:1:6: cpus: "2000" names a CPU above 1023`) // pinning could not use it
	f("cpus 0-99999999999999999999;", `t.conf:1:6: cpus: "0-99999999999999999999" names a CPU above 1023`)
	f("memory 15M;", `t.conf:1:8: memory: "15M" is below the minimum 16M`)
	f("memory 1025G;", `t.conf:1:8: memory: "1025G" is above the maximum 1024G`)
	f("memory 99999999999999999999G;", `t.conf:1:8: memory: "99999999999999999999G" is above the maximum 1024G`)
	f("memory 512MB;", `t.conf:1:8: memory: "512MB" is not a size in bytes (like 512M, 2G)`)
	f("memory M;", `t.conf:1:8: memory: "M" is not a size in bytes (like 512M, 2G)`)
	f("memory -1;", `t.conf:1:8: memory: "-1" is not a size in bytes (like 512M, 2G)`)

	// Streams.
	f("stream;", "t.conf:1:7: stream: missing stream name")
	f("ondemand {", "t.conf:1:10: ondemand: missing stream name")
	f("stream a;", `t.conf:1:1: stream "a" has no input`)
	f("\n ondemand a { }", `t.conf:2:2: stream "a" has no input`)
	f("stream a { segment_count 3; }", `t.conf:1:1: stream "a" has no input`)
	f(`stream "" udp://239.0.0.1:1234;`, "t.conf:1:8: stream name is empty")
	f("stream . udp://239.0.0.1:1234;", `t.conf:1:8: stream name "." is not allowed`)
	f("stream .. udp://239.0.0.1:1234;", `t.conf:1:8: stream name ".." is not allowed`)
	f("stream é udp://239.0.0.1:1234;", `t.conf:1:8: stream name "é" has characters other than letters, digits, '.', '-', '_' and '/'`)
	f(`stream "a b" udp://239.0.0.1:1234;`, `t.conf:1:8: stream name "a b" has characters other than letters, digits, '.', '-', '_' and '/'`)
	f("stream "+strings.Repeat("x", 65)+" udp://239.0.0.1:1234;",
		`t.conf:1:8: stream name "`+strings.Repeat("x", 64)+`"… is longer than 64 characters`)
	f("stream a udp://239.0.0.1:1234;\n\nondemand  a udp://239.0.0.2:1234;", `t.conf:3:11: stream "a" is already defined at line 1`)
	f("stream a udp://239.0.0.1:1234 priority=1;", `t.conf:1:31: stream a: unexpected value "priority=1"; put stream options inside { }`)
	f("stream a { input; }", "t.conf:1:17: input: missing URL")
	f("stream a { input udp://239.0.0.1:1234 { } }", "t.conf:1:39: input does not take a block")
	f("stream a { segment_count 3 { } }", "t.conf:1:28: segment_count does not take a block")
	f("stream a { segment_count; }", "t.conf:1:25: segment_count: missing value")
	f("stream a { segment_count 3 4; }", `t.conf:1:28: segment_count: unexpected value "4"`)
	f("stream a {\n segment_count 3;\n segment_count 4; }", "t.conf:3:2: segment_count is already set at line 2")
	f("stream a { segment_count x; }", `t.conf:1:26: segment_count: "x" is not a whole number`)
	f("stream a { segment_count 2; }", `t.conf:1:26: segment_count: "2" is out of range 3..100`)
	f("stream a { segment_count 101; }", `t.conf:1:26: segment_count: "101" is out of range 3..100`)
	f("stream a { segment_count 3.0; }", `t.conf:1:26: segment_count: "3.0" is not a whole number`)
	f("stream a { segment_duration 0.4; }", `t.conf:1:29: segment_duration: "0.4" is out of range 0.5..60 seconds`)
	f("stream a { segment_duration 60.001; }", `t.conf:1:29: segment_duration: "60.001" is out of range 0.5..60 seconds`)
	f("stream a { segment_duration 99999999999999999999999; }", `t.conf:1:29: segment_duration: "99999999999999999999999" is out of range 0.5..60 seconds`)
	f("stream a { segment_duration .5; }", `t.conf:1:29: segment_duration: ".5" is not a number of seconds`)
	f("stream a { segment_duration 5.; }", `t.conf:1:29: segment_duration: "5." is not a number of seconds`)
	f("stream a { segment_duration -1; }", `t.conf:1:29: segment_duration: "-1" is not a number of seconds`)
	f("stream a { segment_duration 1e1; }", `t.conf:1:29: segment_duration: "1e1" is not a number of seconds`)
	f("stream a { segment_duration 1.2.3; }", `t.conf:1:29: segment_duration: "1.2.3" is not a number of seconds`)
	f("stream a { source_timeout 0; }", `t.conf:1:27: source_timeout: "0" is out of range 0.5..3600 seconds`)
	f("stream a { source_timeout 3601; }", `t.conf:1:27: source_timeout: "3601" is out of range 0.5..3600 seconds`)
	f("stream a { clients_timeout 86401; }", `t.conf:1:28: clients_timeout: "86401" is out of range 0..86400 seconds`)
	f("stream a { clients_timeout maybe; }", `t.conf:1:28: clients_timeout: "maybe" is not a number of seconds or false`)
	f("stream a { segment_duration false; }", `t.conf:1:29: segment_duration: "false" is not a number of seconds`)

	// Inputs.
	f("stream a { input udp:239.0.0.1:1234; }", `t.conf:1:18: input "udp:239.0.0.1:1234": config: expected udp://HOST:PORT`)
	f("stream a { input udp://239.0.0.1; }", `t.conf:1:18: input "udp://239.0.0.1": config: missing port`)
	f("stream a { input udp://239.0.0.1:0; }", `t.conf:1:18: input "udp://239.0.0.1:0": config: port 0 is not 1..65535`)
	f("stream a { input udp://239.0.0.1:65536; }", `t.conf:1:18: input "udp://239.0.0.1:65536": config: port 65536 is not 1..65535`)
	f("stream a { input udp://239.0.0.1:x; }", `t.conf:1:18: input "udp://239.0.0.1:x": invalid port ":x" after host`)
	f("stream a { input 239.0.0.1:1234; }", `t.conf:1:18: input "239.0.0.1:1234": first path segment in URL cannot contain colon`)
	f("stream a {\n input udp://239.0.0.1:1234;\n input udp://239.0.0.1:1234; }", `t.conf:3:8: input "udp://239.0.0.1:1234" is already listed at line 2`)
	f("stream a udp://239.0.0.1:1234 {\n input udp://239.0.0.1:1234; }", `t.conf:2:8: input "udp://239.0.0.1:1234" is already listed at line 1`)
	f("stream a { input udp://239.0.0.1:1234 foo; }", `t.conf:1:39: input: "foo" is not a key=value option`)
	f("stream a { input udp://239.0.0.1:1234 frame_timeout=3; }", `t.conf:1:39: input: unknown option "frame_timeout" (slabcast knows priority, source_timeout, program, rcvbuf, pids, rtp, streamid and passphrase)`)
	f("stream a { input udp://239.0.0.1:1234 pids=1,x; }", `t.conf:1:39: input: pids: "1,x" is not a list of PIDs like 256,257`)
	f("stream a { input udp://239.0.0.1:1234 pids=8192; }", `t.conf:1:39: input: pids: "8192" names a PID above 8191`)
	f("stream a { input udp://239.0.0.1:1234 bakup; }", `t.conf:1:39: input: "bakup" is not a key=value option`)
	f("stream a { disabled maybe; input udp://239.0.0.1:1234; }", `t.conf:1:21: disabled: "maybe" is neither true nor false`)
	f("stream a { input udp://239.0.0.1:1234 rcvbuf=1K; }", `t.conf:1:39: input: rcvbuf "1K" is not a size from 4K to 1G`)
	f("stream a { input udp://239.0.0.1:1234 program=0; }", `t.conf:1:39: input: program "0" is not a program_number 1..65535`)
	f("stream a { input udp://239.0.0.1:1234 program=1 program=2; }", "t.conf:1:49: input: program is given twice")
	f("stream a { input udp://239.0.0.1:1234 priority=1 priority=2; }", "t.conf:1:50: input: priority is given twice")
	f("stream a { input udp://239.0.0.1:1234 priority=-1; }", `t.conf:1:39: input: priority "-1" is not a whole number 0..1000`)
	f("stream a { input udp://239.0.0.1:1234 priority=1001; }", `t.conf:1:39: input: priority "1001" is not a whole number 0..1000`)
	f("stream a { input udp://239.0.0.1:1234 priority=; }", `t.conf:1:39: input: priority "" is not a whole number 0..1000`)
	f("stream a { input udp://239.0.0.1:1234 source_timeout=x; }", `t.conf:1:39: input: source_timeout: "x" is not a number of seconds or false`)
	f("stream a { input udp://239.0.0.1:1234 source_timeout=0.1; }", `t.conf:1:39: input: source_timeout: "0.1" is out of range 0.5..3600 seconds`)
	f("stream a { input udp://239.0.0.1:1234 source_timeout=1 source_timeout=1; }", "t.conf:1:56: input: source_timeout is given twice")

	// Bounds.
	f("stream a { input udp://239.0.0.1:1234"+strings.Repeat(" priority=1", 64)+"; }", "t.conf:1:732: input: more than 64 values")
	big := make([]byte, MaxSize+1)
	if _, err := Parse("t.conf", big, Options{}); err == nil || err.Error() != "t.conf:1:1: config is larger than 8 MiB" {
		t.Errorf("oversized config: %v", err)
	}
	var b strings.Builder
	for i := range MaxStreams + 1 {
		fmt.Fprintf(&b, "stream s%d udp://239.0.0.1:1234;\n", i)
	}
	f(b.String(), fmt.Sprintf("t.conf:%d:1: more than %d streams", MaxStreams+1, MaxStreams))
}

func TestParseCheckInput(t *testing.T) {
	errBad := errors.New("nic: bad group")
	var seen []string
	opt := Options{CheckInput: func(u string) error {
		seen = append(seen, u)
		if strings.Contains(u, "bad") {
			return errBad
		}
		return nil
	}}
	// CheckInput replaces the default check for the schemes slabcast reads;
	// an input of another scheme is skipped before it is checked.
	c, err := Parse("t.conf", []byte("stream a webrtc://x { input udp://y; input rtp://z; }"), opt)
	if err != nil || len(c.Streams) != 1 || len(c.Streams[0].Inputs) != 2 {
		t.Fatalf("Parse = %+v, %v", c, err)
	}
	if want := []string{"udp://y", "rtp://z"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("CheckInput saw %q, want %q", seen, want)
	}
	_, err = Parse("t.conf", []byte("stream a {\n\tinput   udp://bad:1;\n}"), opt)
	if err == nil || err.Error() != `t.conf:2:10: input "udp://bad:1": nic: bad group` {
		t.Errorf("err = %v", err)
	}
	if !errors.Is(err, errBad) {
		t.Errorf("err %v does not wrap the CheckInput error", err)
	}
}

func TestParseWarnings(t *testing.T) {
	f := func(src string, streams int, want ...string) {
		t.Helper()
		c := mustParse(t, src)
		if len(c.Streams) != streams {
			t.Errorf("Parse(%q): %d streams, want %d", src, len(c.Streams), streams)
		}
		if !reflect.DeepEqual(c.Warnings, want) {
			t.Errorf("Parse(%q) warnings:\n got %q\nwant %q", src, c.Warnings, want)
		}
	}
	w := func(line, col int, name string) string {
		return fmt.Sprintf("t.conf:%d:%d: directive %s is not supported by slabcast; ignored", line, col, name)
	}
	narrows := func(line, col int, name, stream string) string {
		return fmt.Sprintf("t.conf:%d:%d: directive %s is not supported by slabcast: stream %q is not started rather than served to anyone", line, col, name, stream)
	}
	f("dvr /storage 3d;", 0, w(1, 1, "dvr"))
	f("stream a {\n  input udp://239.0.0.1:1234;\n  dvr /storage 3d;\n  auth http://127.0.0.1/auth;\n}", 1, w(3, 3, "dvr"), narrows(4, 3, "auth", "a"))
	f("stream a { input udp://239.0.0.1:1234; transcoder vb=2048k ab=128k; on_play x; meta comment \"é { } ;\"; }", 1,
		w(1, 40, "transcoder"), narrows(1, 69, "on_play", "a"), w(1, 80, "meta"))
	f("auth_backend b {\n backend http://x;\n allow country RU;\n}\nstream a udp://239.0.0.1:1234;", 1, w(1, 1, "auth_backend"))
	f("stream a { input udp://239.0.0.1:1234; push rtmp://x { a { b; } } }", 1, w(1, 40, "push"))
	f("template t { prefix x; }", 0, w(1, 1, "template"))

	var b strings.Builder
	var want []string
	for i := range maxWarnings + 7 {
		b.WriteString("loglevel debug;\n")
		if i < maxWarnings {
			want = append(want, w(i+1, 1, "loglevel"))
		}
	}
	want = append(want, "t.conf: 7 more warnings not shown")
	f(b.String(), 0, want...)
}

func TestConfigStream(t *testing.T) {
	c := mustParse(t, "stream a udp://239.0.0.1:1234; ondemand b udp://239.0.0.2:1234;")
	if s, ok := c.Stream("b"); !ok || s.Name != "b" || !s.OnDemand {
		t.Errorf("Stream(b) = %+v, %v", s, ok)
	}
	if s, ok := c.Stream("c"); ok {
		t.Errorf("Stream(c) = %+v, %v", s, ok)
	}
}

func TestStreamEqual(t *testing.T) {
	base := stream("a", "udp://239.0.0.1:1234")
	base.Line, base.Col, base.Span = 1, 2, Span{3, 4}
	for _, tc := range []struct {
		name   string
		change func(*Stream)
		equal  bool
	}{
		{"position", func(s *Stream) { s.Line, s.Col, s.Span = 9, 9, Span{9, 10} }, true},
		{"name", func(s *Stream) { s.Name = "b" }, false},
		{"ondemand", func(s *Stream) { s.OnDemand = true }, false},
		{"url", func(s *Stream) {
			s.Inputs = []Input{{URL: "udp://239.0.0.1:1235", SourceTimeout: DefaultSourceTimeout}}
		}, false},
		{"priority", func(s *Stream) {
			s.Inputs = []Input{{URL: "udp://239.0.0.1:1234", Priority: 1, SourceTimeout: DefaultSourceTimeout}}
		}, false},
		{"input timeout", func(s *Stream) { s.Inputs = []Input{{URL: "udp://239.0.0.1:1234", SourceTimeout: time.Second}} }, false},
		{"more inputs", func(s *Stream) { s.Inputs = append(s.Inputs, s.Inputs[0]) }, false},
		{"segment_duration", func(s *Stream) { s.SegmentDuration++ }, false},
		{"segment_count", func(s *Stream) { s.SegmentCount++ }, false},
		{"source_timeout", func(s *Stream) { s.SourceTimeout++ }, false},
		{"clients_timeout", func(s *Stream) { s.ClientsTimeout++ }, false},
	} {
		o := base
		o.Inputs = append([]Input(nil), base.Inputs...)
		tc.change(&o)
		if got := base.Equal(o); got != tc.equal {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.equal)
		}
	}
	// The same stream written differently is equal.
	a := mustParse(t, "stream a udp://239.0.0.1:1234;").Streams[0]
	b := mustParse(t, "# x\n\nstream a {\n  input \"udp://239.0.0.1:1234\" source_timeout=10;\n  segment_count 6;\n  segment_duration 2.0;\n}").Streams[0]
	if !a.Equal(b) {
		t.Errorf("%+v\nnot equal to\n%+v", a, b)
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("testdata/flussonic.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if httpText(c) != ":8080" || c.Ctl != "/run/slabcast/ctl.sock" || !reflect.DeepEqual(c.CPUs, []int{0, 1}) || c.Memory != 1<<30 {
		t.Errorf("globals: %q %q %v %d", httpText(c), c.Ctl, c.CPUs, c.Memory)
	}
	var names []string
	for _, s := range c.Streams {
		names = append(names, s.Name)
	}
	if want := []string{"ort", "ntv", "sts.hd", "tnt_backup", "ipcam-1", "short_form"}; !reflect.DeepEqual(names, want) {
		t.Errorf("streams %q, want %q", names, want)
	}
	ntv, _ := c.Stream("ntv")
	if len(ntv.Inputs) != 2 || ntv.Inputs[1].Priority != 2 || ntv.Inputs[1].SourceTimeout != 5*time.Second ||
		ntv.SegmentDuration != 4*time.Second || ntv.SegmentCount != 5 {
		t.Errorf("ntv = %+v", ntv)
	}
	cam, _ := c.Stream("ipcam-1")
	if !cam.OnDemand || cam.ClientsTimeout != 60*time.Second {
		t.Errorf("ipcam-1 = %+v", cam)
	}
	if len(c.Warnings) < 10 {
		t.Errorf("only %d warnings: %q", len(c.Warnings), c.Warnings)
	}
	for _, w := range c.Warnings {
		if !strings.HasPrefix(w, "testdata/flussonic.conf:") || !strings.HasSuffix(w, "is not supported by slabcast; ignored") &&
			!strings.HasSuffix(w, "is not started rather than served to anyone") {
			t.Errorf("warning %q", w)
		}
	}
	// The streams that protocols or auth protect are configured, not
	// started; the others start (on_play http:// is enforced).
	for _, s := range c.Streams {
		if protected := s.Name == "ort" || s.Name == "sts.hd"; protected != (s.Problem != "") {
			t.Errorf("stream %s: problem %q", s.Name, s.Problem)
		}
	}

	if _, err := Load("testdata/missing.conf", Options{}); err == nil || !errors.Is(err, os.ErrNotExist) ||
		!strings.HasPrefix(err.Error(), "config: open testdata/missing.conf") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("stream x {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, Options{}); err == nil || err.Error() != bad+`:2:1: unexpected end of file: block "stream x" opened at 1:1 is not closed` {
		t.Errorf("bad file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.conf")
	if err := os.WriteFile(big, make([]byte, MaxSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, Options{}); err == nil || err.Error() != big+":1:1: config is larger than 8 MiB" {
		t.Errorf("big file: %v", err)
	}
}

// TestSpanReparse checks that each stream's span is a complete statement
// that parses alone to the same stream.
func TestSpanReparse(t *testing.T) {
	src, err := os.ReadFile("testdata/flussonic.conf")
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, src, mustParse(t, string(src)))
}

func checkSpans(t *testing.T, src []byte, c *Config) {
	t.Helper()
	for _, s := range c.Streams {
		if s.Span.Start < 0 || s.Span.Start >= s.Span.End || s.Span.End > len(src) {
			t.Fatalf("stream %s: span %v outside %d bytes", s.Name, s.Span, len(src))
		}
		one, err := Parse("span", src[s.Span.Start:s.Span.End], Options{})
		if err != nil {
			t.Fatalf("stream %s: span %q does not parse: %v", s.Name, src[s.Span.Start:s.Span.End], err)
		}
		if len(one.Streams) != 1 || !one.Streams[0].Equal(s) {
			t.Fatalf("stream %s: span %q parses to %+v", s.Name, src[s.Span.Start:s.Span.End], one.Streams)
		}
	}
}

// Live streams: the one-line form and a block with a password; they need
// no input, and the writer gives them back as written.
func TestParseLive(t *testing.T) {
	c := mustParse(t, "live studio;\nlive event { password s3cret; segment_duration 1; on_publish http://127.0.0.1:8081/auth; }\nstream a udp://239.0.0.1:1234;\n")
	if len(c.Streams) != 3 {
		t.Fatalf("%d streams", len(c.Streams))
	}
	st, ev := c.Streams[0], c.Streams[1]
	if !st.Live || st.OnDemand || len(st.Inputs) != 0 || st.Password != "" || st.Problem != "" {
		t.Errorf("studio: %+v", st)
	}
	if !ev.Live || ev.Password != "s3cret" || ev.SegmentDuration != time.Second || ev.OnPublish != "http://127.0.0.1:8081/auth" {
		t.Errorf("event: %+v", ev)
	}
	if c.Streams[2].Live {
		t.Errorf("a static stream parsed as live")
	}
	for _, s := range c.Streams[:2] {
		text := FormatStream(s)
		back := mustParse(t, string(text))
		if len(back.Streams) != 1 || !back.Streams[0].Equal(s) || back.Streams[0].Password != s.Password || back.Streams[0].OnPublish != s.OnPublish {
			t.Errorf("round trip of %s:\n%s\n%+v", s.Name, text, back.Streams)
		}
	}
	for src, want := range map[string]string{
		"live x { password \"\"; }":       "t.conf:1:19: password: empty value",
		"live x { password \"a\x01b\"; }": "t.conf:1:21: control character U+0001 in config",
		"live x { live y; }":              "t.conf:1:10: live is not allowed inside a stream block; is a '}' missing before it?",
		"live x { on_publish ftp://a; }":  `t.conf:1:21: on_publish: "ftp://a" is not an http:// or https:// URL`,
	} {
		if _, err := Parse("t.conf", []byte(src), Options{}); err == nil || err.Error() != want {
			t.Errorf("Parse(%q): %v, want %s", src, err, want)
		}
	}
}
