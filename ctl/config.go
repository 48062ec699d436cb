// Package ctl is slabcast's configuration: the Flussonic-style config file
// grammar (Parse, Load) and the difference between two configs that a reload
// applies (Diff).
//
// Parse builds a new *Config each time and nothing in this package changes a
// Config afterwards, so a Config may be shared read-only between goroutines.
// Parse never panics and bounds its work and memory by the size of its input
// (at most MaxSize bytes).
package ctl

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults and limits of the config file.
const (
	DefaultHTTP   = ":8080"
	DefaultCtl    = "/run/slabcast/ctl.sock"
	DefaultMemory = 512 << 20 // bytes of slab pool
	MinMemory     = 16 << 20
	MaxMemory     = 1 << 40

	DefaultSegmentDuration = 2 * time.Second
	MinSegmentDuration     = 500 * time.Millisecond
	MaxSegmentDuration     = 60 * time.Second
	DefaultSegmentCount    = 6
	MinSegmentCount        = 3
	MaxSegmentCount        = 100
	DefaultSourceTimeout   = 10 * time.Second
	MinSourceTimeout       = 500 * time.Millisecond
	MaxSourceTimeout       = time.Hour
	DefaultClientsTimeout  = 20 * time.Second
	MaxClientsTimeout      = 24 * time.Hour

	MaxSize     = 8 << 20 // bytes of config file
	MaxToken    = 4096    // bytes of one value
	MaxStreams  = 10000
	MaxNameLen  = 64   // characters of a stream name
	MaxPriority = 1000 // largest priority= of an input
	MaxCPU      = 4095 // largest CPU number in cpus

	maxArgs     = 64  // values in one statement
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
		return nil, fmt.Errorf("ctl: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("ctl: read %s: %w", path, err)
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
	return s.Name == o.Name && s.OnDemand == o.OnDemand &&
		slices.Equal(s.Inputs, o.Inputs) &&
		s.SegmentDuration == o.SegmentDuration && s.SegmentCount == o.SegmentCount &&
		s.SourceTimeout == o.SourceTimeout && s.ClientsTimeout == o.ClientsTimeout
}

// Global directives, in the order Change.Globals lists them.
const (
	gHTTP = iota
	gCtl
	gCPUs
	gMemory
	nGlobals
)

var globalNames = [nGlobals]string{"http", "ctl", "cpus", "memory"}

// Directives of real Flussonic configs that slabcast accepts and ignores with
// a warning, at top level or inside a stream, with or without a block.
var unsupported = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range strings.Fields(`
		add_audio_only api_allowed_from auth auth_backend backup cache
		cluster_ingest cluster_key comment dash_off domains drm dvr dvr_offline
		dvr_replicate edit_auth event_sink file hls_off hls_scte35 http_allowed_from
		https iptv keep_sessions live logs loglevel max_bitrate max_sessions meta
		mpegts_ac3 mpegts_off mpegts_pids notify on_play on_publish output_audio
		peer plugin position prepush protocols provider pulsedb push pushes
		retry_limit rewrite rproto rtmp rtmp_off rtsp rtsp_off server_id
		server_names session_log source srt srt_publish static template
		thumbnails title total_bandwidth transcoder url_prefix view_auth vod
		webrtc_abr webrtc_off`) {
		m[name] = true
	}
	return m
}()

// streamOnly are the directives a stream block knows.
func streamOnly(name string) bool {
	switch name {
	case "input", "url", "segment_duration", "segment_count", "source_timeout", "clients_timeout":
		return true
	}
	return false
}

type parser struct {
	lx           *lexer
	opt          Options
	cfg          Config
	names        map[string]int // stream name -> line
	globals      [nGlobals]int  // line where each global was set, 0 if not
	moreWarnings int            // warnings beyond maxWarnings
}

// stmt is a directive, its values and what ended it (';' or '{').
type stmt struct {
	name token
	args []token
	term token
}

func (p *parser) errAt(t token, format string, args ...any) *Error {
	return p.lx.errAt(t.pos, format, args...)
}

func (p *parser) next() (token, *Error) { return p.lx.next() }

// statement reads the values of the directive name up to ';' or '{'.
func (p *parser) statement(name token) (stmt, *Error) {
	st := stmt{name: name}
	label := name.text // for messages; the name is not checked yet
	if len(label) > 32 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz_") != "" {
		label = quote(label)
	}
	for {
		t, err := p.next()
		if err != nil {
			return st, err
		}
		switch t.kind {
		case tokWord, tokString:
			if len(st.args) == maxArgs {
				return st, p.errAt(t, "%s: more than %d values", label, maxArgs)
			}
			st.args = append(st.args, t)
		case tokSemi, tokOpen:
			st.term = t
			return st, nil
		case tokClose:
			return st, p.errAt(t, "expected ';' after %s, found '}'", label)
		default:
			return st, p.errAt(t, "unexpected end of file: expected ';' after %s", label)
		}
	}
}

// directive reads the next statement of a block that closer ends: tokEOF
// for the top level, tokClose for a stream block. At closer it returns done
// with st.term set to it. At the end of file inside a block it returns a
// stmt with st.term the tokEOF and no name.
func (p *parser) directive(closer tokKind) (st stmt, done bool, err *Error) {
	for {
		t, err := p.next()
		if err != nil {
			return st, false, err
		}
		switch {
		case t.kind == closer:
			st.term = t
			return st, true, nil
		case t.kind == tokWord:
			st, err := p.statement(t)
			return st, false, err
		case t.kind == tokSemi:
			continue // an empty statement
		case t.kind == tokString:
			return st, false, p.errAt(t, "expected a directive name, found quoted value %s", quote(t.text))
		case t.kind == tokOpen:
			return st, false, p.errAt(t, "unexpected '{' without a directive")
		case t.kind == tokClose:
			return st, false, p.errAt(t, "unexpected '}': no block is open")
		}
		st.term = t // tokEOF inside a block: the caller reports it
		return st, false, nil
	}
}

func (p *parser) parse() *Error {
	for {
		st, done, err := p.directive(tokEOF)
		if err != nil {
			return err
		}
		if done {
			break
		}
		if err := p.top(st); err != nil {
			return err
		}
	}
	if p.moreWarnings > 0 {
		p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s: %d more warnings not shown", p.lx.file, p.moreWarnings))
	}
	if p.cfg.HTTP == "" {
		p.cfg.HTTP = DefaultHTTP
	}
	if p.cfg.Ctl == "" {
		p.cfg.Ctl = DefaultCtl
	}
	if p.cfg.Memory == 0 {
		p.cfg.Memory = DefaultMemory
	}
	return nil
}

// top handles a top-level statement.
func (p *parser) top(st stmt) *Error {
	name := st.name.text
	switch name {
	case "http", "ctl", "cpus", "memory":
		return p.global(st)
	case "stream", "ondemand":
		return p.stream(st)
	case "include":
		return p.errAt(st.name, "include is not supported by slabcast; put the streams in this file")
	}
	if streamOnly(name) {
		return p.errAt(st.name, "%s is only allowed inside a stream block", name)
	}
	return p.other(st)
}

// other handles a directive slabcast does not know: a Flussonic one is
// ignored with a warning, anything else is an error.
func (p *parser) other(st stmt) *Error {
	if !unsupported[st.name.text] {
		return p.errAt(st.name, "unknown directive %s", quote(st.name.text))
	}
	if len(p.cfg.Warnings) < maxWarnings {
		p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s:%d:%d: directive %s is not supported by slabcast; ignored",
			p.lx.file, st.name.pos.line, st.name.pos.col, st.name.text))
	} else {
		p.moreWarnings++
	}
	if st.term.kind == tokOpen {
		return p.skipBlock(st)
	}
	return nil
}

// skipBlock passes over the block of an ignored directive.
func (p *parser) skipBlock(st stmt) *Error {
	depth := 1
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tokOpen:
			if depth++; depth > maxDepth {
				return p.errAt(t, "blocks nested deeper than %d levels", maxDepth)
			}
		case tokClose:
			if depth--; depth == 0 {
				return nil
			}
		case tokEOF:
			return p.unclosed(t, st)
		}
	}
}

func (p *parser) unclosed(eof token, st stmt) *Error {
	label := st.name.text
	if len(st.args) > 0 {
		label += " " + st.args[0].text
	}
	return p.errAt(eof, "unexpected end of file: block %s opened at %d:%d is not closed",
		quote(label), st.name.pos.line, st.name.pos.col)
}

// value returns the single value of a statement ended by ';'.
func (p *parser) value(st stmt) (token, *Error) {
	if st.term.kind == tokOpen {
		return token{}, p.errAt(st.term, "%s does not take a block", st.name.text)
	}
	if len(st.args) == 0 {
		return token{}, p.errAt(st.term, "%s: missing value", st.name.text)
	}
	if len(st.args) > 1 {
		return token{}, p.errAt(st.args[1], "%s: unexpected value %s", st.name.text, quote(st.args[1].text))
	}
	return st.args[0], nil
}

func (p *parser) global(st stmt) *Error {
	name := st.name.text
	g := slices.Index(globalNames[:], name)
	if line := p.globals[g]; line != 0 {
		return p.errAt(st.name, "%s is already set at line %d", name, line)
	}
	v, err := p.value(st)
	if err != nil {
		return err
	}
	p.globals[g] = st.name.pos.line
	switch g {
	case gHTTP:
		addr, msg := parseListen(v.text)
		if msg != "" {
			return p.errAt(v, "http: %s %s", quote(v.text), msg)
		}
		p.cfg.HTTP = addr
	case gCtl:
		switch {
		case v.text == "":
			return p.errAt(v, "ctl: empty socket path")
		case len(v.text) > maxSockPath:
			return p.errAt(v, "ctl: socket path is longer than %d bytes", maxSockPath)
		}
		p.cfg.Ctl = v.text
	case gCPUs:
		cpus, msg := parseCPUs(v.text)
		if msg != "" {
			return p.errAt(v, "cpus: %s %s", quote(v.text), msg)
		}
		p.cfg.CPUs = cpus
	case gMemory:
		n, ok := parseSize(v.text)
		switch {
		case !ok:
			return p.errAt(v, "memory: %s is not a size in bytes (like 512M, 2G)", quote(v.text))
		case n < MinMemory:
			return p.errAt(v, "memory: %s is below the minimum 16M", quote(v.text))
		case n > MaxMemory:
			return p.errAt(v, "memory: %s is above the maximum 1024G", quote(v.text))
		}
		p.cfg.Memory = n
	}
	return nil
}

// streamState is a stream being parsed.
type streamState struct {
	s    Stream
	set  [4]int         // line of segment_duration, segment_count, source_timeout, clients_timeout
	urls map[string]int // input URL -> line
}

func (p *parser) stream(st stmt) *Error {
	kw := st.name.text
	if len(st.args) == 0 {
		return p.errAt(st.term, "%s: missing stream name", kw)
	}
	nameTok := st.args[0]
	name := nameTok.text
	if err := p.checkName(nameTok); err != nil {
		return err
	}
	if line, dup := p.names[name]; dup {
		return p.errAt(nameTok, "stream %s is already defined at line %d", quote(name), line)
	}
	if len(p.cfg.Streams) == MaxStreams {
		return p.errAt(st.name, "more than %d streams", MaxStreams)
	}
	p.names[name] = nameTok.pos.line
	ss := &streamState{
		s: Stream{
			Name:     name,
			OnDemand: kw == "ondemand",
			Line:     st.name.pos.line,
			Col:      st.name.pos.col,
			Span:     Span{Start: st.name.pos.off, End: st.term.end},
		},
		urls: map[string]int{},
	}
	if len(st.args) > 2 {
		return p.errAt(st.args[2], "%s %s: unexpected value %s; put stream options inside { }", kw, name, quote(st.args[2].text))
	}
	if len(st.args) == 2 {
		if err := p.input(ss, st.args[1], nil); err != nil {
			return err
		}
	}
	if st.term.kind == tokOpen {
		for {
			d, done, err := p.directive(tokClose)
			if err != nil {
				return err
			}
			if done {
				ss.s.Span.End = d.term.end
				break
			}
			if d.term.kind == tokEOF {
				return p.unclosed(d.term, st)
			}
			if err := p.streamDirective(ss, d); err != nil {
				return err
			}
		}
	}
	s := &ss.s
	if len(s.Inputs) == 0 {
		return p.errAt(st.name, "stream %s has no input", quote(name))
	}
	if s.SegmentDuration == 0 {
		s.SegmentDuration = DefaultSegmentDuration
	}
	if s.SegmentCount == 0 {
		s.SegmentCount = DefaultSegmentCount
	}
	if s.SourceTimeout == 0 {
		s.SourceTimeout = DefaultSourceTimeout
	}
	if ss.set[3] == 0 {
		s.ClientsTimeout = DefaultClientsTimeout
	}
	for i := range s.Inputs {
		if s.Inputs[i].SourceTimeout == 0 {
			s.Inputs[i].SourceTimeout = s.SourceTimeout
		}
	}
	p.cfg.Streams = append(p.cfg.Streams, *s)
	return nil
}

func (p *parser) checkName(t token) *Error {
	n := utf8.RuneCountInString(t.text)
	switch {
	case n == 0:
		return p.errAt(t, "stream name is empty")
	case n > MaxNameLen:
		return p.errAt(t, "stream name %s is longer than %d characters", quote(t.text), MaxNameLen)
	}
	for i := 0; i < len(t.text); i++ {
		c := t.text[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return p.errAt(t, "stream name %s has characters other than letters, digits, '.', '-', '_'", quote(t.text))
		}
	}
	if t.text == "." || t.text == ".." {
		return p.errAt(t, "stream name %s is not allowed", quote(t.text))
	}
	return nil
}

// Indices into streamState.set.
const (
	sSegmentDuration = iota
	sSegmentCount
	sSourceTimeout
	sClientsTimeout
)

func (p *parser) streamDirective(ss *streamState, st stmt) *Error {
	name := st.name.text
	var which int
	switch name {
	case "input", "url": // url is Flussonic's old name for input
		if st.term.kind == tokOpen {
			return p.errAt(st.term, "%s does not take a block", name)
		}
		if len(st.args) == 0 {
			return p.errAt(st.term, "%s: missing URL", name)
		}
		return p.input(ss, st.args[0], st.args[1:])
	case "segment_duration":
		which = sSegmentDuration
	case "segment_count":
		which = sSegmentCount
	case "source_timeout":
		which = sSourceTimeout
	case "clients_timeout":
		which = sClientsTimeout
	case "stream", "ondemand":
		return p.errAt(st.name, "%s is not allowed inside a stream block; is a '}' missing before it?", name)
	case "http", "ctl", "cpus", "memory":
		return p.errAt(st.name, "%s is not allowed inside a stream block", name)
	case "include":
		return p.errAt(st.name, "include is not supported by slabcast; put the streams in this file")
	default:
		return p.other(st)
	}
	if line := ss.set[which]; line != 0 {
		return p.errAt(st.name, "%s is already set at line %d", name, line)
	}
	v, err := p.value(st)
	if err != nil {
		return err
	}
	ss.set[which] = st.name.pos.line
	s := &ss.s
	switch which {
	case sSegmentDuration:
		s.SegmentDuration, err = p.seconds(name, v, MinSegmentDuration, MaxSegmentDuration)
	case sSegmentCount:
		n, ok := parseInt(v.text)
		switch {
		case !ok:
			return p.errAt(v, "%s: %s is not a whole number", name, quote(v.text))
		case n < MinSegmentCount || n > MaxSegmentCount:
			return p.errAt(v, "%s: %s is out of range %d..%d", name, quote(v.text), MinSegmentCount, MaxSegmentCount)
		}
		s.SegmentCount = n
	case sSourceTimeout:
		s.SourceTimeout, err = p.seconds(name, v, MinSourceTimeout, MaxSourceTimeout)
	case sClientsTimeout:
		s.ClientsTimeout, err = p.seconds(name, v, 0, MaxClientsTimeout)
	}
	return err
}

func (p *parser) seconds(name string, v token, min, max time.Duration) (time.Duration, *Error) {
	d, ok := parseSeconds(v.text)
	if !ok {
		return 0, p.errAt(v, "%s: %s is not a number of seconds", name, quote(v.text))
	}
	if d < min || d > max {
		return 0, p.errAt(v, "%s: %s is out of range %s..%s seconds", name, quote(v.text), secs(min), secs(max))
	}
	return d, nil
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// input adds the input at u with its key=value options.
func (p *parser) input(ss *streamState, u token, opts []token) *Error {
	if line, dup := ss.urls[u.text]; dup {
		return p.errAt(u, "input %s is already listed at line %d", quote(u.text), line)
	}
	check := p.opt.CheckInput
	if check == nil {
		check = checkURL
	}
	if err := check(u.text); err != nil {
		e := p.errAt(u, "input %s: %v", quote(u.text), err)
		e.Err = err
		return e
	}
	ss.urls[u.text] = u.pos.line
	in := Input{URL: u.text}
	var seenPriority, seenTimeout, seenProgram, seenRcvbuf bool
	for _, o := range opts {
		k, v, ok := strings.Cut(o.text, "=")
		if !ok {
			return p.errAt(o, "input: %s is not a key=value option", quote(o.text))
		}
		switch k {
		case "priority":
			if seenPriority {
				return p.errAt(o, "input: priority is given twice")
			}
			seenPriority = true
			n, ok := parseInt(v)
			if !ok || n > MaxPriority {
				return p.errAt(o, "input: priority %s is not a whole number 0..%d", quote(v), MaxPriority)
			}
			in.Priority = n
		case "source_timeout":
			if seenTimeout {
				return p.errAt(o, "input: source_timeout is given twice")
			}
			seenTimeout = true
			vt := o
			vt.text = v
			d, err := p.seconds("input: source_timeout", vt, MinSourceTimeout, MaxSourceTimeout)
			if err != nil {
				return err
			}
			in.SourceTimeout = d
		case "program":
			if seenProgram {
				return p.errAt(o, "input: program is given twice")
			}
			seenProgram = true
			n, ok := parseInt(v)
			if !ok || n < 1 || n > 65535 {
				return p.errAt(o, "input: program %s is not a program_number 1..65535", quote(v))
			}
			in.Program = n
		case "rcvbuf":
			if seenRcvbuf {
				return p.errAt(o, "input: rcvbuf is given twice")
			}
			seenRcvbuf = true
			n, ok := parseSize(v)
			if !ok || n < 4096 || n > 1<<30 {
				return p.errAt(o, "input: rcvbuf %s is not a size from 4K to 1G", quote(v))
			}
			in.RecvBuffer = int(n)
		default:
			return p.errAt(o, "input: unknown option %s (slabcast knows priority, source_timeout, program and rcvbuf)", quote(k))
		}
	}
	ss.s.Inputs = append(ss.s.Inputs, in)
	return nil
}

// checkURL is the input check used when Options.CheckInput is nil.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	if u.Scheme != "udp" && u.Scheme != "rtp" {
		return errors.New("ctl: only udp:// and rtp:// inputs are supported")
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("ctl: expected %s://HOST:PORT", u.Scheme)
	}
	port := u.Port()
	if port == "" {
		return errors.New("ctl: missing port")
	}
	if n, ok := parseInt(port); !ok || n < 1 || n > 65535 {
		return fmt.Errorf("ctl: port %s is not 1..65535", port)
	}
	return nil
}

// parseListen normalises an http value to addr:port; msg says what is wrong.
func parseListen(s string) (addr, msg string) {
	const form = "is not PORT, ADDR:PORT or [IPv6]:PORT"
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, ok := parseInt(s); !ok || n < 1 || n > 65535 {
			return "", "port is not 1..65535"
		}
		return ":" + s, ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", form
	}
	if n, ok := parseInt(port); !ok || n < 1 || n > 65535 {
		return "", "port is not 1..65535"
	}
	if host == "*" {
		host = ""
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return "", "has an address that is neither an IP address nor a host name"
		}
	}
	return net.JoinHostPort(host, port), ""
}

func validHostname(s string) bool {
	if len(s) > 253 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// parseCPUs parses a CPU list like "0-1,3"; msg says what is wrong.
func parseCPUs(s string) (cpus []int, msg string) {
	var set [MaxCPU/64 + 1]uint64
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, ok1 := parseInt(lo)
		b := a
		ok2 := true
		if isRange {
			b, ok2 = parseInt(hi)
		}
		switch {
		case !ok1 || !ok2:
			return nil, "is not a CPU list like 0-3,6"
		case a > MaxCPU || b > MaxCPU:
			return nil, fmt.Sprintf("names a CPU above %d", MaxCPU)
		case a > b:
			return nil, fmt.Sprintf("has range %s going down", part)
		}
		for c := a; c <= b; c++ {
			set[c/64] |= 1 << (c % 64)
		}
	}
	for c := 0; c <= MaxCPU; c++ {
		if set[c/64]&(1<<(c%64)) != 0 {
			cpus = append(cpus, c)
		}
	}
	return cpus, ""
}

// ParseSize parses a size in bytes with an optional binary suffix K, M or
// G, as the config's memory and rcvbuf= take it. Values past MaxMemory come
// back as MaxMemory+1 (out of range for every use) rather than overflowing.
func ParseSize(s string) (int64, bool) { return parseSize(s) }

// parseSize parses bytes with an optional binary suffix K, M or G.
func parseSize(s string) (int64, bool) {
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, ok := parseInt(s)
	if !ok {
		return 0, false
	}
	if int64(n) > MaxMemory/mult {
		return MaxMemory + 1, true // out of range; avoids overflow below
	}
	return int64(n) * mult, true
}

// parseInt parses decimal digits; values beyond 1e12 saturate there, which
// every caller treats as out of range.
func parseInt(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	const limit = 1e12
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, limit), true
}

// parseSeconds parses seconds written as digits with an optional decimal
// fraction, without float rounding. Digits beyond nanoseconds are dropped;
// huge values saturate at 1e9 seconds, far beyond every limit.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	w, ok := parseInt(whole)
	if !ok {
		return 0, false
	}
	w = min(w, 1e9) // seconds; keeps the product below MaxInt64
	var ns int64
	if hasFrac {
		if frac == "" {
			return 0, false
		}
		scale := int64(1e8)
		for i := 0; i < len(frac); i++ {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			ns += int64(c-'0') * scale
			scale /= 10
		}
	}
	return time.Duration(w)*time.Second + time.Duration(ns), true
}
