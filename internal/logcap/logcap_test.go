package logcap

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"GET /a HTTP/1.1", 100, "GET /a HTTP/1.1"},
		{"a\r\nb\x00\x7f", 100, `a\x0d\x0ab\x00\x7f`},
		{"back\\slash", 100, `back\\slash`},
		{"\xff\xfe", 100, `\xff\xfe`},
		{strings.Repeat("x", 300), 200, strings.Repeat("x", 200) + "…(+100 bytes)"},
		{"héllo", 2, "h…(+5 bytes)"},   // é does not fit: cut before it
		{"ab\ncd", 3, "ab…(+3 bytes)"}, // the escape does not fit whole
	} {
		if got := Text(c.in, c.max); got != c.want {
			t.Errorf("Text(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\n", 16)
	f.Add("\xff\x00héllo\\", 3)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := Text(s, max)
		body, _, _ := strings.Cut(got, "…(+")
		if len(body) > max {
			t.Fatalf("Text(%q, %d) = %q: %d bytes before the mark", s, max, got, len(body))
		}
		for _, r := range body {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("Text(%q, %d) = %q: control character %U", s, max, got, r)
			}
		}
	})
}

func TestCap(t *testing.T) {
	var lines []string
	logf := Cap(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }, 50)
	logf("http: %s", strings.Repeat("A", 13000)+"\nforged line")
	if len(lines) != 1 || len(lines[0]) > 50+len("…(+99999 bytes)") || strings.Contains(lines[0], "\n") {
		t.Fatalf("capped: %q", lines)
	}
}

// A flood of one kind from one peer writes one line and one summary; other
// keys are written on their own; beyond MaxKeys they are counted together.
func TestLimiter(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logf := func(f string, a ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	l := NewLimiter(logf, time.Hour, 3)
	for i := 0; i < 5000; i++ {
		l.Logf("400 192.0.2.7", "http: 400 from 192.0.2.7", "http: 400 from 192.0.2.7: request %d", i)
	}
	l.Logf("408 192.0.2.7", "http: 408 from 192.0.2.7", "http: 408 from 192.0.2.7")
	l.Logf("400 192.0.2.8", "http: 400 from 192.0.2.8", "http: 400 from 192.0.2.8")
	for i := 0; i < 10; i++ {
		l.Logf(fmt.Sprintf("400 10.0.0.%d", i), "x", "never written")
	}
	l.Close()
	l.Close() // idempotent
	want := []string{
		"http: 400 from 192.0.2.7: request 0",
		"http: 408 from 192.0.2.7",
		"http: 400 from 192.0.2.8",
		"http: 400 from 192.0.2.7: 4999 more in the last 1h0m0s",
		"10 more lines of other kinds or sources in the last 1h0m0s (more than 3 kinds)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// After an interval a key is written afresh.
func TestLimiterInterval(t *testing.T) {
	var mu sync.Mutex
	n := 0
	l := NewLimiter(func(string, ...any) { mu.Lock(); n++; mu.Unlock() }, time.Hour, 10)
	defer l.Close()
	l.Logf("k", "k", "one")
	l.Logf("k", "k", "two")
	l.Flush() // "k: 1 more"
	l.Logf("k", "k", "three")
	mu.Lock()
	defer mu.Unlock()
	if n != 3 {
		t.Fatalf("%d lines, want 3 (one, the summary, three)", n)
	}
}
