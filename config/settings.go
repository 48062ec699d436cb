package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/slabcast/slabcast/nic"
)

// Defaults and limits of the settings in Settings. The table below is built
// from these, so each number is written once.
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
	DefaultChunkDuration   = 200 * time.Millisecond
	MinChunkDuration       = 100 * time.Millisecond
	MaxChunkDuration       = 2 * time.Second
	MinSegmentCount        = 3
	MaxSegmentCount        = 100
	DefaultSourceTimeout   = 10 * time.Second
	MinSourceTimeout       = 500 * time.Millisecond
	MaxSourceTimeout       = time.Hour
	DefaultClientsTimeout  = 20 * time.Second
	MaxClientsTimeout      = 24 * time.Hour

	DefaultHTTPMaxConns      = 20000
	DefaultHTTPMaxConnsPerIP = 1000
	MaxHTTPConns             = 1 << 22
	DefaultHTTPStallTimeout  = 10 * time.Second
	MinHTTPStallTimeout      = time.Second
	MaxHTTPStallTimeout      = 10 * time.Minute
	DefaultHTTPSendBuffer    = 256 << 10
	MinHTTPSendBuffer        = 16 << 10
	MaxHTTPSendBuffer        = 64 << 20

	maxText = 256 // bytes of a Text value

	MaxPriority   = 1000 // largest priority= of an input
	MaxCPU        = nic.MaxCPU - 1
	MinRecvBuffer = 4 << 10
	MaxRecvBuffer = 1 << 30
)

// Scope says where a setting is written.
type Scope uint8

const (
	Global    Scope = iota + 1 // a top-level directive: `memory 1G;`
	PerStream                  // a directive in a stream block: `segment_count 6;`
	PerInput                   // an option after an input URL: `input udp://… priority=1;`
)

// Kind is the type of a setting's value: how it is written, checked and
// stored.
type Kind uint8

const (
	Seconds    Kind = iota + 1 // decimal seconds ("2", "0.5"), exact to the nanosecond; a time.Duration
	Count                      // a whole number; an int
	Bytes                      // bytes with an optional K, M or G suffix ("4M"); an int or int64
	Listen                     // PORT, ADDR:PORT or [IPv6]:PORT, kept as "addr:port"; a string
	SocketPath                 // a unix socket path; a string
	CPUList                    // a Linux CPU list ("0-3,6"), kept ascending; a []int
	Flag                       // true or false, or no value for true (`disabled;`); a bool
	PIDList                    // PIDs 0..8191 ("256,257"), kept ascending in the same form; a string
	Text                       // a word of up to 256 printable bytes (a password); a string
	Words                      // several words, kept as one string in canonical form (drm aes128 keyserver=URL); a string
	Millis                     // whole milliseconds ("200"), Flussonic's unit for chunk_duration; a time.Duration
)

// Numeric reports whether values of the kind are numbers (in the control
// protocol: JSON numbers).
func (k Kind) Numeric() bool { return k == Seconds || k == Count || k == Bytes || k == Millis }

// Metavar names a value of the kind in usage texts: SECONDS, N, BYTES.
func (k Kind) Metavar() string {
	switch k {
	case Seconds:
		return "SECONDS"
	case Millis:
		return "MS"
	case Count:
		return "N"
	case Bytes:
		return "BYTES"
	case Listen:
		return "ADDR:PORT"
	case SocketPath:
		return "PATH"
	case CPUList:
		return "CPUS"
	case Flag:
		return "true|false"
	case PIDList:
		return "PID,..."
	case Text:
		return "TEXT"
	case Words:
		return "WORDS"
	}
	return "VALUE"
}

// Types are the stream types a setting means something for.
type Types uint8

const (
	Static Types = 1 << iota
	OnDemand
	Live // published to: the source connects to slabcast

	AllTypes = Static | OnDemand | Live
)

// Setting is one setting of the config file. Settings, the table of them,
// is the one place a setting is declared: the parser and the writer of the
// config file, the control protocol, slabcast ctl and the HTTP API read it,
// so a new setting is a row here and a field in Config, Stream or Input.
type Setting struct {
	Name  string // directive or input option; the key in the control protocol
	Scope Scope
	Kind  Kind
	// Types are the stream types the setting acts on (PerStream and
	// PerInput); it is accepted on the others and has no effect there.
	Types Types
	// Default is the value, as the file writes it, that an absent setting
	// takes; "" leaves the zero value (no priority, no program).
	Default string
	// Inherit names the PerStream setting whose value an absent PerInput
	// setting takes (an input's source_timeout= is the stream's).
	Inherit string
	// Min and Max bound a numeric value in the Kind's unit (nanoseconds,
	// a count, bytes).
	Min, Max int64
	// Expect, when set, is what a good value is, for the one message every
	// bad value gets: `input: priority "-1" is not a whole number 0..1000`.
	Expect string
	// Never lets a Seconds setting be written false, Flussonic's "never":
	// it is stored as the duration Never.
	Never bool
	// Repeat lets a Global setting be given several times, each adding a
	// value (http 80; http 8080;).
	Repeat bool
	// API is the field's name in Flussonic's HTTP API v3, "" when it has
	// none; APIMillis says the API gives it in milliseconds, not in the
	// file's unit.
	API       string
	APIMillis bool
	Help      string // one line, for slabcast ctl -h and the console
	// Check, for a Text or Words setting, says what is wrong with a value
	// ("" if nothing), past the kind's own rules.
	Check func(string) string
	// Canon, for a Words setting, gives a checked value's canonical form,
	// the one stored and written.
	Canon func(string) string

	field func(*Config, *Stream, *Input) any // a pointer to where the value lives
}

// Settings is every setting slabcast knows, globals first, in the order the
// writer and the control protocol give them.
var Settings = []*Setting{
	{Name: "http", Scope: Global, Kind: Listen, Default: DefaultHTTP, Repeat: true,
		Help: "HTTP listen address; one line each", field: onConfig(func(c *Config) any { return &c.HTTP })},
	{Name: "rtmp", Scope: Global, Kind: Listen, Repeat: true,
		Help: "RTMP listen address for publishers (rtmp://HOST/live/NAME); one line each, none by default", field: onConfig(func(c *Config) any { return &c.RTMP })},
	{Name: "srt", Scope: Global, Kind: Listen, Repeat: true,
		Help: "SRT listen address (UDP) for publishers (streamid=publish:NAME); one line each, none by default", field: onConfig(func(c *Config) any { return &c.SRT })},
	{Name: "multicast_ring", Scope: Global, Kind: Flag, Default: "false",
		Help:  "take multicast inputs from one AF_PACKET ring per port and core instead of UDP sockets (needs eBPF)",
		field: onConfig(func(c *Config) any { return &c.MulticastRing })},
	{Name: "on_play", Scope: Global, Kind: Text, Check: checkBackendURL,
		Help:  "the playback backend of every stream that names none",
		field: onConfig(func(c *Config) any { return &c.OnPlay })},
	{Name: "on_play_backend_down", Scope: Global, Kind: Text, Check: checkBackendDown, Default: "deny",
		Help:  "when on_play cannot be asked: deny (new sessions refused, known ones kept for their time) or allow",
		field: onConfig(func(c *Config) any { return &c.OnPlayBackendDown })},
	{Name: "ctl", Scope: Global, Kind: SocketPath, Default: DefaultCtl,
		Help: "control socket path", field: onConfig(func(c *Config) any { return &c.Ctl })},
	{Name: "cpus", Scope: Global, Kind: CPUList,
		Help: "cores for the receive workers (default: all)", field: onConfig(func(c *Config) any { return &c.CPUs })},
	{Name: "memory", Scope: Global, Kind: Bytes, Default: sizeText(DefaultMemory), Min: MinMemory, Max: MaxMemory,
		Help: "slab pool for all streams", field: onConfig(func(c *Config) any { return &c.Memory })},
	{Name: "http_max_connections", Scope: Global, Kind: Count, Default: strconv.Itoa(DefaultHTTPMaxConns), Min: 1, Max: MaxHTTPConns,
		Help:  "HTTP connections open at once over every listener; more are answered 503",
		field: onConfig(func(c *Config) any { return &c.HTTPMaxConns })},
	{Name: "http_max_connections_per_ip", Scope: Global, Kind: Count, Default: strconv.Itoa(DefaultHTTPMaxConnsPerIP), Min: 1, Max: MaxHTTPConns,
		Help:  "HTTP connections open at once from one client address; more are answered 503",
		field: onConfig(func(c *Config) any { return &c.HTTPMaxConnsPerIP })},
	{Name: "http_stall_timeout", Scope: Global, Kind: Seconds, Default: secondsText(DefaultHTTPStallTimeout),
		Min: int64(MinHTTPStallTimeout), Max: int64(MaxHTTPStallTimeout),
		Help:  "an HTTP MPEG-TS reader that takes no bytes this long is closed",
		field: onConfig(func(c *Config) any { return &c.HTTPStallTimeout })},
	{Name: "http_send_buffer", Scope: Global, Kind: Bytes, Default: sizeText(DefaultHTTPSendBuffer), Min: MinHTTPSendBuffer, Max: MaxHTTPSendBuffer,
		Help:  "socket send buffer of an HTTP MPEG-TS reader: the most a stalled reader holds",
		field: onConfig(func(c *Config) any { return &c.HTTPSendBuffer })},

	{Name: "segment_duration", Scope: PerStream, Kind: Seconds, Types: AllTypes,
		Default: secondsText(DefaultSegmentDuration), Min: int64(MinSegmentDuration), Max: int64(MaxSegmentDuration),
		API: "segment_duration", APIMillis: true, Help: "target length of a segment",
		field: onStream(func(s *Stream) any { return &s.SegmentDuration })},
	{Name: "segment_count", Scope: PerStream, Kind: Count, Types: AllTypes,
		Default: strconv.Itoa(DefaultSegmentCount), Min: MinSegmentCount, Max: MaxSegmentCount,
		API: "segment_count", Help: "segments listed in the playlist",
		field: onStream(func(s *Stream) any { return &s.SegmentCount })},
	{Name: "chunk_duration", Scope: PerStream, Kind: Millis, Types: AllTypes,
		Default: strconv.FormatInt(DefaultChunkDuration.Milliseconds(), 10), Min: int64(MinChunkDuration), Max: int64(MaxChunkDuration),
		API: "chunk_duration", Help: "target length of a Low-Latency HLS part (index.ll.m3u8), in milliseconds",
		field: onStream(func(s *Stream) any { return &s.ChunkDuration })},
	{Name: "source_timeout", Scope: PerStream, Kind: Seconds, Types: AllTypes,
		Default: secondsText(DefaultSourceTimeout), Min: int64(MinSourceTimeout), Max: int64(MaxSourceTimeout), Never: true,
		API: "source_timeout", Help: "silence before an input counts as dead (the default of every input; false: never)",
		field: onStream(func(s *Stream) any { return &s.SourceTimeout })},
	{Name: "clients_timeout", Scope: PerStream, Kind: Seconds, Types: OnDemand,
		Default: secondsText(DefaultClientsTimeout), Max: int64(MaxClientsTimeout), Never: true,
		API: "clients_timeout", Help: "how long the stream runs after its last client (false: for ever)",
		field: onStream(func(s *Stream) any { return &s.ClientsTimeout })},
	{Name: "password", Scope: PerStream, Kind: Text, Types: Live,
		API: "password", Help: "what a publisher must give (?password=) to publish to a live stream",
		field: onStream(func(s *Stream) any { return &s.Password })},
	{Name: "on_publish", Scope: PerStream, Kind: Text, Types: Live | Static, Check: checkBackendURL,
		API: "on_publish", Help: "an HTTP backend that allows (200) or denies each publisher",
		field: onStream(func(s *Stream) any { return &s.OnPublish })},
	{Name: "on_play", Scope: PerStream, Kind: Text, Types: AllTypes, Check: checkBackendURL,
		API: "on_play", Help: "an HTTP backend that allows (200), denies (403) or redirects (302) each viewer (default: the global on_play)",
		field: onStream(func(s *Stream) any { return &s.OnPlay })},
	{Name: "drm", Scope: PerStream, Kind: Words, Types: AllTypes, Check: checkDRM, Canon: canonDRM,
		API: "drm", Help: "aes128 keyserver=URL [expires=MIN] [user_keyserver=URL] [hls_ext_x_key_iv=on|off]: AES-128 HLS with the CAS's keys",
		field: onStream(func(s *Stream) any { return &s.DRM })},
	{Name: "disabled", Scope: PerStream, Kind: Flag, Types: AllTypes,
		API: "disabled", Help: "configured but switched off: not started",
		field: onStream(func(s *Stream) any { return &s.Disabled })},

	{Name: "priority", Scope: PerInput, Kind: Count, Types: AllTypes, Max: MaxPriority,
		Expect: "a whole number 0.." + strconv.Itoa(MaxPriority),
		API:    "priority", Help: "failover order: lower first (default: file order)",
		field: onInput(func(in *Input) any { return &in.Priority })},
	{Name: "source_timeout", Scope: PerInput, Kind: Seconds, Types: AllTypes, Inherit: "source_timeout",
		Min: int64(MinSourceTimeout), Max: int64(MaxSourceTimeout), Never: true,
		API: "source_timeout", Help: "this input's silence before it counts as dead",
		field: onInput(func(in *Input) any { return &in.SourceTimeout })},
	{Name: "program", Scope: PerInput, Kind: Count, Types: AllTypes, Min: 1, Max: 65535,
		Expect: "a program_number 1..65535", Help: "the program to take from a multi-program (MPTS) input",
		field: onInput(func(in *Input) any { return &in.Program })},
	{Name: "rcvbuf", Scope: PerInput, Kind: Bytes, Types: AllTypes, Min: MinRecvBuffer, Max: MaxRecvBuffer,
		Expect: "a size from 4K to 1G", Help: "socket receive buffer (default: the daemon's)",
		field: onInput(func(in *Input) any { return &in.RecvBuffer })},
	{Name: "pids", Scope: PerInput, Kind: PIDList, Types: AllTypes,
		API: "pids", Help: "the PIDs to take: a PMT PID picks its program, stream PIDs the streams stored",
		field: onInput(func(in *Input) any { return &in.PIDs })},
	{Name: "rtp", Scope: PerInput, Kind: Text, Types: AllTypes,
		Help: "rtsp:// inputs: RTP over tcp (interleaved, the default) or udp", Check: checkRTP,
		field: onInput(func(in *Input) any { return &in.RTP })},
	{Name: "streamid", Scope: PerInput, Kind: Text, Types: AllTypes,
		Help: "srt:// inputs: the SRT stream id to send (as #!::r=NAME,m=request)", Check: checkStreamID,
		field: onInput(func(in *Input) any { return &in.StreamID })},
	{Name: "passphrase", Scope: PerInput, Kind: Text, Types: AllTypes,
		Help: "srt:// inputs: the SRT passphrase, 10 to 79 characters", Check: checkPassphrase,
		field: onInput(func(in *Input) any { return &in.Passphrase })},
}

func checkRTP(v string) string {
	if v != "tcp" && v != "udp" {
		return "is tcp or udp"
	}
	return ""
}

func checkStreamID(v string) string {
	if len(v) > 512 {
		return "is longer than 512 bytes"
	}
	return ""
}

func checkPassphrase(v string) string {
	if len(v) < 10 || len(v) > 79 {
		return "is 10 to 79 characters (SRT's rule)"
	}
	return ""
}

// checkBackendURL accepts an http:// or https:// URL with a host.
func checkBackendURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "is not an http:// or https:// URL"
	}
	return ""
}

// Lookup returns the setting called name in scope, or nil.
func Lookup(scope Scope, name string) *Setting {
	for _, s := range Settings {
		if s.Scope == scope && s.Name == name {
			return s
		}
	}
	return nil
}

// Names returns the names of the settings in scope, in table order.
func Names(scope Scope) []string {
	var names []string
	for _, s := range Settings {
		if s.Scope == scope {
			names = append(names, s.Name)
		}
	}
	return names
}

func onConfig(f func(*Config) any) func(*Config, *Stream, *Input) any {
	return func(c *Config, _ *Stream, _ *Input) any { return f(c) }
}

func onStream(f func(*Stream) any) func(*Config, *Stream, *Input) any {
	return func(_ *Config, s *Stream, _ *Input) any { return f(s) }
}

func onInput(f func(*Input) any) func(*Config, *Stream, *Input) any {
	return func(_ *Config, _ *Stream, in *Input) any { return f(in) }
}

// ptr is where the setting's value lives: in c for a Global, s for a
// PerStream, in for a PerInput setting.
func (st *Setting) ptr(c *Config, s *Stream, in *Input) any { return st.field(c, s, in) }

// StreamText returns a PerStream setting's value in s as the file writes it.
func (st *Setting) StreamText(s *Stream) string { return st.text(st.ptr(nil, s, nil)) }

// InputText returns a PerInput setting's value in in as the file writes it.
func (st *Setting) InputText(in *Input) string { return st.text(st.ptr(nil, nil, in)) }

// GlobalText returns a Global setting's value in c as the file writes it.
func (st *Setting) GlobalText(c *Config) string { return st.text(st.ptr(c, nil, nil)) }

// JSON returns the value at p as the control protocol gives it: the file's
// text, but sizes as a plain number of bytes.
func (st *Setting) json(p any) string {
	if st.Kind == Bytes {
		return strconv.FormatInt(sizeOf(p), 10)
	}
	return st.text(p)
}

// StreamJSON and InputJSON are StreamText and InputText as the control
// protocol gives them: numbers in plain decimal, sizes in bytes.
func (st *Setting) StreamJSON(s *Stream) string { return st.json(st.ptr(nil, s, nil)) }
func (st *Setting) InputJSON(in *Input) string  { return st.json(st.ptr(nil, nil, in)) }

// InputGiven reports whether input in of stream s (s with its defaults
// filled in, as Parse gives it) has a value of its own for the PerInput
// setting st: one that is set, and not simply the value it inherits. The
// writer and the control protocol give only those.
func (st *Setting) InputGiven(s *Stream, in *Input) bool {
	p := st.ptr(nil, nil, in)
	if isZero(p) && st.zeroAbsent() {
		return false
	}
	return st.Inherit == "" || st.text(p) != inherited(st, s)
}

// zeroAbsent reports whether a zero value stands for an absent setting (the
// writer leaves it out, the parser fills in the default): zero is not a
// value the setting can take, or the setting has no default.
func (st *Setting) zeroAbsent() bool { return st.Default == "" || st.Kind.Numeric() && st.Min > 0 }

// isZero reports whether the value at p is its type's zero value.
func isZero(p any) bool {
	switch v := p.(type) {
	case *time.Duration:
		return *v == 0
	case *int:
		return *v == 0
	case *int64:
		return *v == 0
	case *string:
		return *v == ""
	case *[]int:
		return len(*v) == 0
	case *bool:
		return !*v
	case *[]Listener:
		return len(*v) == 0
	}
	panic(fmt.Sprintf("BUG: config: setting stored as %T", p))
}

// text writes the value at p the way the file writes it: the shortest exact
// seconds, sizes with a suffix where it is exact, CPU lists as ranges.
func (st *Setting) text(p any) string {
	switch v := p.(type) {
	case *time.Duration:
		if *v == Never {
			return "false"
		}
		if st.Kind == Millis {
			return strconv.FormatInt(v.Milliseconds(), 10)
		}
		return secondsText(*v)
	case *int:
		if st.Kind == Bytes {
			return sizeText(int64(*v))
		}
		return strconv.Itoa(*v)
	case *int64:
		return sizeText(*v)
	case *string:
		return *v
	case *[]int:
		return cpuListText(*v)
	case *bool:
		return strconv.FormatBool(*v)
	case *[]Listener:
		var b []byte
		for i, l := range *v {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, l.Addr...)
			if !l.API {
				b = append(b, "{api=false}"...)
			}
		}
		return string(b)
	}
	panic(fmt.Sprintf("BUG: config: setting %s stored as %T", st.Name, p))
}

func sizeOf(p any) int64 {
	switch v := p.(type) {
	case *int:
		return int64(*v)
	case *int64:
		return *v
	}
	panic(fmt.Sprintf("BUG: config: size stored as %T", p))
}

// set checks text, a value of the setting written as label in messages,
// and stores it at p. msg says what is wrong, "" when nothing is.
func (st *Setting) set(p any, label, text string) (msg string) {
	if !st.Kind.Numeric() {
		return st.setOther(p, label, text)
	}
	if st.Never && text == "false" {
		*p.(*time.Duration) = Never
		return ""
	}
	var n int64
	var ok bool
	switch st.Kind {
	case Seconds:
		var d time.Duration
		d, ok = parseSeconds(text)
		n = int64(d)
	case Millis:
		var i int
		i, ok = parseInt(text)
		n = int64(time.Duration(i) * time.Millisecond)
	case Count:
		var i int
		i, ok = parseInt(text)
		n = int64(i)
	case Bytes:
		n, ok = parseSize(text)
	}
	if msg := st.rangeMsg(label, text, n, ok); msg != "" {
		return msg
	}
	switch v := p.(type) {
	case *time.Duration:
		*v = time.Duration(n)
	case *int:
		*v = int(n)
	case *int64:
		*v = n
	default:
		panic(fmt.Sprintf("BUG: config: setting %s stored as %T", st.Name, p))
	}
	return ""
}

// rangeMsg says what is wrong with the number n read from text, if ok says
// it is a number at all.
func (st *Setting) rangeMsg(label, text string, n int64, ok bool) string {
	in := ok && n >= st.Min && n <= st.Max
	q := quote(text)
	switch {
	case in:
		return ""
	case st.Expect != "":
		return fmt.Sprintf("%s %s is not %s", label, q, st.Expect)
	}
	switch st.Kind {
	case Seconds:
		if !ok && st.Never {
			return fmt.Sprintf("%s: %s is not a number of seconds or false", label, q)
		}
		if !ok {
			return fmt.Sprintf("%s: %s is not a number of seconds", label, q)
		}
		return fmt.Sprintf("%s: %s is out of range %s..%s seconds", label, q,
			secondsText(time.Duration(st.Min)), secondsText(time.Duration(st.Max)))
	case Count:
		if !ok {
			return fmt.Sprintf("%s: %s is not a whole number", label, q)
		}
		return fmt.Sprintf("%s: %s is out of range %d..%d", label, q, st.Min, st.Max)
	case Millis:
		if !ok {
			return fmt.Sprintf("%s: %s is not a whole number of milliseconds", label, q)
		}
		return fmt.Sprintf("%s: %s is out of range %d..%d milliseconds", label, q,
			time.Duration(st.Min).Milliseconds(), time.Duration(st.Max).Milliseconds())
	}
	switch { // Bytes
	case !ok:
		return fmt.Sprintf("%s: %s is not a size in bytes (like 512M, 2G)", label, q)
	case n < st.Min:
		return fmt.Sprintf("%s: %s is below the minimum %s", label, q, sizeText(st.Min))
	}
	return fmt.Sprintf("%s: %s is above the maximum %s", label, q, sizeText(st.Max))
}

func (st *Setting) setOther(p any, label, text string) string {
	switch st.Kind {
	case Listen:
		addr, msg := parseListen(text)
		if msg != "" {
			return fmt.Sprintf("%s: %s %s", label, quote(text), msg)
		}
		l := p.(*[]Listener)
		for _, x := range *l {
			if x.Addr == addr {
				return fmt.Sprintf("%s: %s is listed twice", label, quote(addr))
			}
		}
		*l = append(*l, Listener{Addr: addr, API: true})
	case Flag:
		switch text {
		case "true", "on", "yes":
			*p.(*bool) = true
		case "false", "off", "no":
			*p.(*bool) = false
		default:
			return fmt.Sprintf("%s: %s is neither true nor false", label, quote(text))
		}
	case Text, Words:
		if msg := checkText(text); msg != "" && !(st.Kind == Words && msg == fmt.Sprintf("longer than %d bytes", maxText) && len(text) <= maxWords) {
			return label + ": " + msg
		}
		if st.Check != nil {
			if msg := st.Check(text); msg != "" {
				return fmt.Sprintf("%s: %s %s", label, quote(text), msg)
			}
		}
		if st.Canon != nil {
			text = st.Canon(text)
		}
		*p.(*string) = text
	case PIDList:
		pids, msg := parsePIDList(text)
		if msg != "" {
			return fmt.Sprintf("%s: %s %s", label, quote(text), msg)
		}
		*p.(*string) = pids
	case SocketPath:
		switch {
		case text == "":
			return label + ": empty socket path"
		case len(text) > maxSockPath:
			return fmt.Sprintf("%s: socket path is longer than %d bytes", label, maxSockPath)
		}
		*p.(*string) = text
	case CPUList:
		cpus, err := nic.ParseCPUList(text)
		if err != nil {
			var e *nic.CPUListError
			if errors.As(err, &e) {
				return fmt.Sprintf("%s: %s %s", label, quote(text), e.Msg())
			}
			return fmt.Sprintf("%s: %s: %v", label, quote(text), err)
		}
		*p.(*[]int) = cpus
	default:
		panic(fmt.Sprintf("BUG: config: setting %s has kind %d", st.Name, st.Kind))
	}
	return ""
}

func secondsText(d time.Duration) string { return string(appendSeconds(nil, d)) }
func sizeText(n int64) string            { return string(appendSize(nil, n)) }

// cpuListText writes ascending CPUs as a list of ranges: "0-3,6".
func cpuListText(cpus []int) string {
	var b []byte
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(cpus[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(cpus[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// checkText says what is wrong with a Text value ("" if nothing): empty,
// too long, or holding control characters.
func checkText(text string) string {
	switch {
	case text == "":
		return "empty value"
	case len(text) > maxText:
		return fmt.Sprintf("longer than %d bytes", maxText)
	}
	for _, c := range []byte(text) {
		if c < 0x20 || c == 0x7f {
			return "control characters are not allowed"
		}
	}
	return ""
}

func checkBackendDown(v string) string {
	if v != "deny" && v != "allow" {
		return "is deny or allow"
	}
	return ""
}
