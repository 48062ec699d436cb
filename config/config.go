// Package config is slabcast's configuration: the Flussonic-style config
// file grammar (Parse, Load), the table of settings every part of slabcast
// reads (Settings), the writer that changes one stream of a file and keeps
// the rest byte for byte (SetStream, RemoveStream), and the difference
// between two configs that a reload applies (Diff).
//
// Parse builds a new *Config each time and nothing in this package changes a
// Config afterwards, so a Config may be shared read-only between goroutines.
// Parse never panics and bounds its work and memory by the size of its input
// (at most MaxSize bytes).
package config

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// Limits of the config file.
const (
	MaxSize    = 8 << 20 // bytes of config file
	MaxToken   = 4096    // bytes of one value
	MaxStreams = 10000
	MaxNameLen = 64 // characters of a stream name

	MaxValues   = 64  // values in one statement (so inputs of a stream, in a request)
	maxDepth    = 16  // nesting of ignored blocks
	maxWarnings = 100 // warnings kept in Config.Warnings
	maxSockPath = 107 // sun_path less its NUL
)

// Config is a parsed config file with defaults applied.
type Config struct {
	HTTP     string   // listen address, "addr:port"; a bare port becomes ":port"
	Ctl      string   // control socket path
	CPUs     []int    // cores for the receive workers, ascending, no repeats; nil = all
	Memory   int64    // bytes of slab pool
	Streams  []Stream // in file order
	Warnings []string // "FILE:LINE:COL: …" for directives accepted but ignored
}

// Stream is one stream or ondemand block, with defaults applied.
type Stream struct {
	Name            string
	OnDemand        bool // ondemand: started by the first client, stopped ClientsTimeout after the last
	Inputs          []Input
	SegmentDuration time.Duration
	SegmentCount    int
	SourceTimeout   time.Duration // the stream's source_timeout; each Input has its effective one
	ClientsTimeout  time.Duration
	Line, Col       int  // where the stream or ondemand keyword is
	Span            Span // where the whole statement is in the source
}

// Span is a byte range of the config source: Start is the offset of the
// stream (or ondemand) keyword, End the offset just after the closing '}' or
// ';'. A writer can replace src[Start:End] and keep everything around it,
// comments included.
type Span struct{ Start, End int }

// Input is one source of a stream.
type Input struct {
	URL      string
	Priority int // the priority= option, 0 when absent; the pipeline defines its order
	// Program is the program= option: the program_number to take from a
	// multi-program (MPTS) input; 0 means the first program in the PAT.
	Program int
	// SourceTimeout is effective: the input's source_timeout= option, else
	// the stream's source_timeout.
	SourceTimeout time.Duration
	// RecvBuffer is the rcvbuf= option: the socket receive buffer in bytes;
	// 0 means the daemon's default.
	RecvBuffer int
}

// Options adjust Parse.
type Options struct {
	// CheckInput, if set, validates each input URL; its error is reported
	// at the URL's line and column and wrapped by the returned *Error. When
	// nil, any udp:// or rtp:// URL that net/url accepts with a port 1..65535
	// is accepted.
	CheckInput func(url string) error
}

// Error is a config error at a place in the file. Parse and Load return it
// for anything wrong in the file's content.
type Error struct {
	File      string
	Line, Col int // 1-based; Col counts characters (runes)
	Msg       string
	Err       error // the cause, e.g. from Options.CheckInput; may be nil
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Load reads and parses the config file at path. Errors in the file are
// *Error; others say what went wrong reading it.
func Load(path string, opt Options) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, src, opt)
}

// Parse parses a config; file names it in errors and warnings. It returns
// the first error found, as an *Error.
func Parse(file string, src []byte, opt Options) (*Config, error) {
	if len(src) > MaxSize {
		return nil, &Error{File: file, Line: 1, Col: 1, Msg: fmt.Sprintf("config is larger than %d MiB", MaxSize>>20)}
	}
	p := &parser{lx: newLexer(file, string(src)), opt: opt, names: map[string]int{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return &p.cfg, nil
}

// Stream returns the stream called name.
func (c *Config) Stream(name string) (Stream, bool) {
	for _, s := range c.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return Stream{}, false
}

// Equal reports whether s and o have the same effective settings; where they
// are written (Line, Col, Span) does not count.
func (s Stream) Equal(o Stream) bool {
	if s.Name != o.Name || s.OnDemand != o.OnDemand || !slices.Equal(s.Inputs, o.Inputs) {
		return false
	}
	for _, st := range Settings {
		if st.Scope == PerStream && st.StreamText(&s) != st.StreamText(&o) {
			return false
		}
	}
	return true
}
