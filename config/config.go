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
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Limits of the config file.
const (
	MaxSize    = 8 << 20 // bytes of config file
	MaxToken   = 4096    // bytes of one value
	MaxStreams = 10000
	MaxNameLen = 64 // characters of a stream name

	MaxValues = 64 // values in one statement (so inputs of a stream, in a request)
	// MaxNetworks bounds the networks of the api_allowed_from lines
	// together: operators list dozens (one per office or rack).
	MaxNetworks = 4096
	maxDepth    = 16  // nesting of ignored blocks
	maxWarnings = 100 // warnings kept in Config.Warnings
	maxSockPath = 107 // sun_path less its NUL
)

// Config is a parsed config file, with the files it includes, and its
// defaults applied.
type Config struct {
	HTTP   []Listener // HTTP listeners, in file order; one (DefaultHTTP) when none is given
	RTMP   []Listener // RTMP publish listeners (`rtmp 1935;`); none unless given
	SRT    []Listener // SRT publish listeners (`srt 9000;`, UDP); none unless given
	Ctl    string     // control socket path
	CPUs   []int      // cores for the receive workers, ascending, no repeats; nil = all
	Memory int64      // bytes of slab pool
	// MulticastRing takes multicast inputs from AF_PACKET rings instead of
	// UDP sockets (pipeline.Options.Ring).
	MulticastRing bool

	// What HTTP clients may hold (docs/SPEC.md §4, "Limits").
	HTTPMaxConns      int           // connections open at once over every listener
	HTTPMaxConnsPerIP int           // connections open at once from one client address
	HTTPStallTimeout  time.Duration // a /mpegts reader that takes nothing this long is closed
	HTTPSendBuffer    int           // SO_SNDBUF of a /mpegts connection

	// Who may use the HTTP API and the console (SPEC §3, "Console and
	// API"): EditAuth reads and changes, ViewAuth only reads; nil when not
	// configured. APIAllowedFrom, when not empty, is every network a client
	// of the API and console may come from.
	EditAuth, ViewAuth *Credentials
	APIAllowedFrom     []netip.Prefix

	// OnPlay is the playback backend of streams that name none; "" for
	// none. OnPlayBackendDown says what happens while it cannot be asked:
	// "deny" or "allow".
	OnPlay, OnPlayBackendDown string
	Streams                   []Stream // in file order, an included file's where it is included
	Files                     []string // the files read: the one given first, then those included, in order
	Warnings                  []string // "FILE:LINE:COL: …" for what is accepted but ignored, or will not run
}

// Credentials are a user and password of edit_auth or view_auth.
type Credentials struct {
	User, Password string
}

// Listener is one http, rtmp or srt directive: `http 8080;`,
// `http 80 { api false; }`, `rtmp 1935;`.
type Listener struct {
	Addr string // "addr:port"; a bare port becomes ":port"
	API  bool   // serves the HTTP API and console here; api false turns them off
}

// Never is the duration of a timeout written false: clients_timeout false
// keeps an ondemand stream running, source_timeout false never gives up on
// a source.
const Never = time.Duration(1<<63 - 1)

// Stream is one stream or ondemand block, with defaults applied.
type Stream struct {
	Name            string
	OnDemand        bool   // ondemand: started by the first client, stopped ClientsTimeout after the last
	Live            bool   // live: fed by a publisher that connects (HTTP PUT/POST now); inputs optional
	Password        string // live: what a publisher must give; "" lets anyone publish
	OnPublish       string // live: the backend that allows or denies each publisher; "" for none
	OnPlay          string // the backend that allows or denies each viewer; "" for the global one
	DRM             string // the drm directive's value (DRMSpec reads it); "" for none
	Inputs          []Input
	SegmentDuration time.Duration
	ChunkDuration   time.Duration // LL-HLS part target
	SegmentCount    int
	SourceTimeout   time.Duration // the stream's source_timeout; each Input has its effective one
	ClientsTimeout  time.Duration
	Disabled        bool // configured but switched off: not started
	// Problem, when set, says why the stream is configured but cannot be
	// started: no input slabcast can read, or a directive that narrows who
	// may watch or publish that slabcast does not enforce yet (it is not
	// served to anyone rather than to everyone).
	Problem string
	// Extra holds, as written, the statements of the block slabcast keeps
	// but does not act on (ignored directives, inputs of schemes it cannot
	// read yet), so that rewriting the stream keeps them (FormatStream).
	Extra     []string
	File      string // the file the stream is in
	Line, Col int    // where the stream or ondemand keyword is
	Span      Span   // where the whole statement is in File
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
	// PIDs is the pids= option, the PIDs to take, ascending ("256,257"):
	// a PMT PID among them picks its program, and only the listed streams
	// are stored; "" takes the program's every stream.
	PIDs string
	// RTP is the rtp= option of an rtsp:// input: "udp" or "tcp" (the
	// default, "").
	RTP string
	// StreamID and Passphrase are the streamid= and passphrase= options
	// of an srt:// input; they win over the URL's.
	StreamID, Passphrase string
	// Extra holds, as written and space-separated, the options of the
	// input line slabcast keeps but does not act on (user_agent="…").
	Extra string
}

// Options adjust Parse.
type Options struct {
	// CheckInput, if set, validates each input URL of a scheme slabcast
	// reads (InputSchemes); its error is reported at the URL's line and
	// column and wrapped by the returned *Error. When nil, any such URL that
	// net/url accepts with a port 1..65535 is accepted. Inputs of other
	// schemes are skipped with a warning, whatever CheckInput says.
	CheckInput func(url string) error
	// ReadFile reads an included file (and, for Load, the file itself);
	// nil means os.ReadFile. The daemon checks an edit of one file of a
	// config by loading the config with that file's new content.
	ReadFile func(path string) ([]byte, error)

	noInclude bool // include statements are kept as they are, not read (the writer's edits of one file)
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

// Load reads and parses the config file at path, with the files it
// includes (`include PATTERN;`, relative to the including file) and, after
// them, every PATH.d/*.conf (flussonic.conf.d/ beside flussonic.conf), as
// Flussonic reads its configuration. Errors in a file are *Error; others say
// what went wrong reading it.
func Load(path string, opt Options) (*Config, error) {
	p := newParser(opt)
	if err := p.file(path, nil, nil); err != nil {
		return nil, err
	}
	matches, _ := filepath.Glob(path + ".d/*.conf")
	slices.Sort(matches)
	for _, m := range matches {
		if !slices.Contains(p.cfg.Files, m) {
			if err := p.file(m, nil, nil); err != nil {
				return nil, err
			}
		}
	}
	return p.finish()
}

// Parse parses one config file's content; file names it in errors and
// warnings. It returns the first error found, as an *Error. An include in
// it is read (Options.ReadFile) relative to file's directory.
func Parse(file string, src []byte, opt Options) (*Config, error) {
	p := newParser(opt)
	if err := p.file(file, src, nil); err != nil {
		return nil, err
	}
	return p.finish()
}

// readFile reads a config file of at most MaxSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return src, nil
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

// Equal reports whether s and o have the same effective settings and keep
// the same statements they do not act on; where they are written (File,
// Line, Col, Span) does not count, nor Problem, which follows from the rest.
func (s Stream) Equal(o Stream) bool {
	if s.Name != o.Name || s.OnDemand != o.OnDemand || s.Live != o.Live || !slices.Equal(s.Inputs, o.Inputs) || !slices.Equal(s.Extra, o.Extra) {
		return false
	}
	for _, st := range Settings {
		if st.Scope == PerStream && st.StreamText(&s) != st.StreamText(&o) {
			return false
		}
	}
	return true
}
