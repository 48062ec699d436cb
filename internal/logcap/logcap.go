// Package logcap keeps what strangers send from filling the daemon's log.
//
// Every log line that carries input from the wire, a config file or the
// control socket goes through it: Text cuts such input to a stated size and
// escapes what a terminal or a log parser would act on; Limiter collapses
// repeats of one kind of line from one peer into a line per interval with
// a count; Cap is the last guard, on every line the daemon writes, so that
// no single line is longer than a stated size whatever a caller forgot.
//
// With these, the log grows by at most one line per (peer, reason) key per
// interval plus one summary line per key, however fast bad requests arrive:
// a flood costs bytes in proportion to its sources, not to its requests.
package logcap

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Text returns s fit for a log line: at most max bytes of it (cut on a
// rune boundary), bytes below 0x20, DEL and invalid UTF-8 written as \xNN,
// and a cut marked with how much was left out. Backslashes are doubled, so
// an escape in the output always means one in the input was escaped.
func Text(s string, max int) string {
	b := make([]byte, 0, min(len(s), max)+24)
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc []byte
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			esc = []byte{'\\', 'x', hex[s[i]>>4], hex[s[i]&0xf]}
		case r == '\\':
			esc = []byte{'\\', '\\'}
		}
		n := size
		if esc != nil {
			n = len(esc)
		}
		if len(b)+n > max {
			break
		}
		if esc != nil {
			b = append(b, esc...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	if i < len(s) {
		b = append(b, "…(+"...)
		b = strconv.AppendInt(b, int64(len(s)-i), 10)
		b = append(b, " bytes)"...)
	}
	return string(b)
}

const hex = "0123456789abcdef"

// Cap wraps logf so that no line it writes is longer than max bytes of
// message, and no line breaks or control characters from the arguments
// reach the log: the formatted message goes through Text.
func Cap(logf func(string, ...any), max int) func(string, ...any) {
	return func(format string, args ...any) {
		logf("%s", Text(fmt.Sprintf(format, args...), max))
	}
}

// Limiter writes the first line of each key in an interval and counts the
// rest; when the interval ends it writes, for each key that repeated, one
// line with the count. Keys name a kind of event and its source ("400 from
// 192.0.2.7"); at most MaxKeys of them are tracked in an interval, and
// lines of further keys are counted together under one overflow line, so
// memory stays bounded too.
type Limiter struct {
	logf     func(string, ...any)
	interval time.Duration
	maxKeys  int

	mu       sync.Mutex
	keys     map[string]*entry
	overflow uint64 // lines of keys beyond maxKeys this interval
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

type entry struct {
	label   string // the first line's summary text
	repeats uint64 // lines not written since the first
}

// NewLimiter starts a limiter writing to logf; Close stops it.
func NewLimiter(logf func(string, ...any), interval time.Duration, maxKeys int) *Limiter {
	l := &Limiter{logf: logf, interval: interval, maxKeys: maxKeys, keys: map[string]*entry{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *Limiter) run() {
	defer close(l.done)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			l.Flush()
			return
		}
	}
}

// Logf writes the line (format and args, as log.Printf) unless a line of
// the same key was written in this interval; then it only counts it.
// label is what the summary line calls the key's lines.
func (l *Limiter) Logf(key, label, format string, args ...any) {
	l.mu.Lock()
	if e := l.keys[key]; e != nil {
		e.repeats++
		l.mu.Unlock()
		return
	}
	if len(l.keys) >= l.maxKeys {
		l.overflow++
		l.mu.Unlock()
		return
	}
	l.keys[key] = &entry{label: label}
	l.mu.Unlock()
	l.logf(format, args...)
}

// Flush writes the summaries of the interval so far and starts a new one.
func (l *Limiter) Flush() {
	l.mu.Lock()
	keys, overflow := l.keys, l.overflow
	l.keys, l.overflow = make(map[string]*entry, len(keys)), 0
	l.mu.Unlock()
	var rep []*entry
	for _, e := range keys {
		if e.repeats > 0 {
			rep = append(rep, e)
		}
	}
	sort.Slice(rep, func(i, j int) bool { return rep[i].label < rep[j].label })
	for _, e := range rep {
		l.logf("%s: %d more in the last %v", e.label, e.repeats, l.interval)
	}
	if overflow > 0 {
		l.logf("%d more lines of other kinds or sources in the last %v (more than %d kinds)", overflow, l.interval, l.maxKeys)
	}
}

// Close writes the last summaries and stops the limiter.
func (l *Limiter) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}
