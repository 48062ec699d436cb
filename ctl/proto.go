package ctl

// The control protocol (docs/SPEC.md §5): newline-delimited JSON over a unix
// stream socket, one request object per line and one answer per line.
//
//	{"cmd":"add","name":"x","input":"udp://239.0.0.1:1234","clients_timeout":20}
//	{"ok":true,"stream":{…}}
//	{"cmd":"show","name":"nope"}
//	{"ok":false,"error":"…"}
//
// Stream options use the config directive names as keys; durations are
// numbers of seconds. An add or update request is validated by the config
// parser itself (StreamFromRequest), so the control socket accepts exactly
// what the config file accepts.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/config"
)

// Commands of the control protocol.
const (
	CmdList   = "list"   // every stream's status
	CmdShow   = "show"   // one stream's settings and status
	CmdAdd    = "add"    // a new stream
	CmdUpdate = "update" // replace an existing stream's settings
	CmdRemove = "remove" // stop and forget a stream
	CmdStats  = "stats"  // counters of one stream, or of all with no name
	CmdReload = "reload" // re-read the config file and apply the difference
)

// MaxLine is the longest request line, in bytes without the newline, that
// a Server reads.
const MaxLine = 64 << 10

// maxAnswer bounds an answer line a Client reads.
const maxAnswer = 256 << 20

// Request is one request line. Cmd is required; the other keys depend on
// it: list and reload take none, show and remove take name, stats takes an
// optional name, add and update take a whole stream.
type Request struct {
	Cmd string `json:"cmd"`
	StreamJSON
}

// StreamJSON is a stream in the protocol: the config directives of a stream
// block under their own names (the PerStream settings of config.Settings),
// durations in seconds, sizes in bytes. In requests every setting may be
// left out and gets the config file's default; in answers (show, add,
// update) every setting is given with its effective value.
type StreamJSON struct {
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"` // "static" (also "") or "ondemand"
	// Input is a short form of Inputs for a stream with one input and no
	// input options; a request gives Input or Inputs, not both.
	Input  string      `json:"input,omitempty"`
	Inputs []InputJSON `json:"inputs,omitempty"`
	// Settings holds the stream settings given, by name, each as its JSON
	// text: a number for numeric settings ("2.5"). It is marshalled flat,
	// beside name and type, in the order of config.Settings.
	Settings map[string]string `json:"-"`
}

// InputJSON is one input with the options of a config input line (the
// PerInput settings of config.Settings), marshalled flat beside url.
type InputJSON struct {
	URL      string            `json:"url"`
	Settings map[string]string `json:"-"`
}

// Stream types in StreamJSON.Type and StreamStatus.Type.
const (
	TypeStatic   = "static"
	TypeOnDemand = "ondemand"
	TypeLive     = "live" // fed by a publisher
)

// Stream statuses in StreamStatus.Status.
const (
	StatusRunning = "running" // data is arriving
	StatusWaiting = "waiting" // ondemand and not started: no client asked
	StatusDown    = "down"    // started, but no input delivers
	// StatusDisabled: configured with disabled, not started.
	StatusDisabled = "disabled"
	// StatusError: configured but it cannot start as configured
	// (StreamStatus.Error says why); not started.
	StatusError = "error"
)

// StreamStatus is a stream's state as list, show and stats give it.
type StreamStatus struct {
	Name        string     `json:"name"`
	Type        string     `json:"type"`   // TypeStatic, TypeOnDemand or TypeLive
	Status      string     `json:"status"` // StatusRunning, StatusWaiting or StatusDown
	Inputs      []string   `json:"inputs"` // URLs in config order
	ActiveInput string     `json:"active_input,omitempty"`
	Publisher   *Publisher `json:"publisher,omitempty"` // a live stream's, while one is connected
	Error       string     `json:"error,omitempty"`     // why a stream in StatusError is not started
}

// Publisher is who publishes to a live stream.
type Publisher struct {
	Addr     string    `json:"addr"`     // the publisher's IP address
	Protocol string    `json:"protocol"` // "http" (PUT or POST of MPEG-TS)
	Since    time.Time `json:"since"`
}

// StreamStats are a stream's counters since it (or its current run, for an
// ondemand stream) started. It is marshalled flat: the status, uptime and
// bitrate, then each counter under its key in the daemon's order (a
// group's counters as one object under the group's key: "filtered":
// {"size":0,…}), then ts_errors, clients and pids.
type StreamStats struct {
	StreamStatus
	UptimeSeconds float64           `json:"uptime_seconds"`
	BitrateBps    uint64            `json:"bitrate_bps"` // input bits a second, recent
	Counters      []Count           `json:"-"`
	TSErrors      map[string]uint64 `json:"ts_errors,omitempty"` // by TR 101 290 indicator name
	Clients       int               `json:"clients"`
	PIDs          []PIDStats        `json:"pids,omitempty"`
	// LastData is when the stream last received data; zero if never. Not
	// in the control protocol's answer (the HTTP API gives it as ts_delay).
	LastData time.Time `json:"-"`
}

// Count is one counter of a stream: Name within Group, if it has one.
type Count struct {
	Group, Name string
	N           uint64
}

// Counter returns the counter called name ("ts_lost", or "filtered.size"
// for one of a group), 0 if the answer has none.
func (s *StreamStats) Counter(name string) uint64 {
	group, key, grouped := strings.Cut(name, ".")
	if !grouped {
		group, key = "", name
	}
	for _, c := range s.Counters {
		if c.Group == group && c.Name == key {
			return c.N
		}
	}
	return 0
}

// PIDStats are the counts of one PID of a stream's input.
type PIDStats struct {
	PID     uint16 `json:"pid"`
	Packets uint64 `json:"packets"`
	Lost    uint64 `json:"lost"`
	Codec   string `json:"codec,omitempty"`
	// Width and Height are a video PID's picture size, from its SPS; 0
	// when not known (yet).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// ChangeJSON is a Change in the protocol; ChangeJSON(ch) converts one.
type ChangeJSON struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	Globals []string `json:"globals"`
}

// Response is an answer as a Client decodes it. Which payload is set
// depends on the command: Streams for list, Stream and Status for show,
// Stream for add and update, Stats for stats, Change for reload.
type Response struct {
	OK      bool           `json:"ok"`
	Error   string         `json:"error,omitempty"`
	Streams []StreamStatus `json:"streams,omitempty"`
	Stream  *StreamJSON    `json:"stream,omitempty"`
	Status  *StreamStatus  `json:"status,omitempty"`
	Stats   []StreamStats  `json:"stats,omitempty"`
	Change  *ChangeJSON    `json:"change,omitempty"`
	// Raw is the answer line as the server sent it, without the newline.
	Raw []byte `json:"-"`
}

// Keys each command takes besides cmd.
var (
	streamKeys = append([]string{"name", "type", "input", "inputs"}, config.Names(config.PerStream)...)
	inputKeys  = append([]string{"url"}, config.Names(config.PerInput)...)
	cmdKeys    = map[string][]string{
		CmdList:   nil,
		CmdShow:   {"name"},
		CmdAdd:    streamKeys,
		CmdUpdate: streamKeys,
		CmdRemove: {"name"},
		CmdStats:  {"name"},
		CmdReload: nil,
	}
	cmdNames = []string{CmdList, CmdShow, CmdAdd, CmdUpdate, CmdRemove, CmdStats, CmdReload}
)

// ParseRequest decodes one request line. It checks the JSON, the command
// and that every key is one the command takes (keys are case-sensitive);
// the values of a stream are checked by StreamFromRequest, a name by
// CheckName.
func ParseRequest(line []byte) (Request, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Request{}, errors.New("ctl: request is not a JSON object")
		}
		return Request{}, fmt.Errorf("ctl: malformed JSON: %w", err)
	}
	if raw == nil {
		return Request{}, errors.New("ctl: request is not a JSON object")
	}
	var req Request
	cmdRaw, ok := raw["cmd"]
	if !ok {
		return Request{}, fmt.Errorf("ctl: request has no \"cmd\" (commands: %s)", strings.Join(cmdNames, ", "))
	}
	if err := json.Unmarshal(cmdRaw, &req.Cmd); err != nil {
		return Request{}, errors.New("ctl: \"cmd\" is not a string")
	}
	allowed, ok := cmdKeys[req.Cmd]
	if !ok {
		return Request{}, fmt.Errorf("ctl: unknown command %s (commands: %s)", config.Quote(req.Cmd), strings.Join(cmdNames, ", "))
	}
	if err := checkKeys(raw, allowed, req.Cmd); err != nil {
		return Request{}, err
	}
	if in, ok := raw["inputs"]; ok {
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(in, &list); err != nil {
			return Request{}, errors.New("ctl: \"inputs\" is not a list of objects")
		}
		for i, m := range list {
			if m == nil {
				return Request{}, fmt.Errorf("ctl: inputs[%d] is not an object", i)
			}
			if err := checkKeys(m, inputKeys, fmt.Sprintf("inputs[%d]", i)); err != nil {
				return Request{}, err
			}
		}
	}
	if err := decodeStream(raw, &req.StreamJSON); err != nil {
		return Request{}, err
	}
	return req, nil
}

// checkKeys refuses a key of m not in allowed; where names the command or
// the inputs element.
func checkKeys(m map[string]json.RawMessage, allowed []string, where string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first bad key, the same every time
	for _, k := range keys {
		if k == "cmd" && !strings.HasPrefix(where, "inputs[") || slices.Contains(allowed, k) {
			continue
		}
		known := slices.Contains(streamKeys, k) || slices.Contains(inputKeys, k)
		switch {
		case known && len(allowed) == 0:
			return fmt.Errorf("ctl: %s takes no %s", where, config.Quote(k))
		case known:
			return fmt.Errorf("ctl: %s takes no %s (it takes %s)", where, config.Quote(k), strings.Join(allowed, ", "))
		case len(allowed) == 0:
			return fmt.Errorf("ctl: unknown key %s (%s takes none)", config.Quote(k), where)
		}
		return fmt.Errorf("ctl: unknown key %s in %s (known: %s)", config.Quote(k), where, strings.Join(allowed, ", "))
	}
	return nil
}

// CheckName checks a stream name by the config file's rule
// (config.ValidName).
func CheckName(name string) error {
	if err := config.CheckName(name); err != nil {
		var ne *config.NameError
		if errors.As(err, &ne) {
			return errors.New("ctl: " + ne.Msg)
		}
		return err
	}
	return nil
}

// checkURLText refuses an input URL the config grammar could not carry or
// that no URL has: it must be 1..MaxToken bytes of printable ASCII without
// spaces.
func checkURLText(u string) error {
	switch {
	case u == "":
		return errors.New("ctl: input URL is empty")
	case len(u) > config.MaxToken:
		return fmt.Errorf("ctl: input URL is longer than %d bytes", config.MaxToken)
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("ctl: input %s: URL has a space, control or non-ASCII character at byte %d", config.Quote(u), i)
		}
	}
	return nil
}

// reqError is a StreamFromRequest error: the parser's message without the
// place, and its cause.
type reqError struct {
	msg string
	err error
}

func (e *reqError) Error() string { return e.msg }
func (e *reqError) Unwrap() error { return e.err }

// StreamFromRequest validates the stream of an add or update request
// exactly as the config parser would, with the same defaults, ranges and
// messages (without a line and column), and opt as the daemon parses its
// file with. Name and URLs are checked before anything is handed to the
// parser, each value is quoted, so a request cannot inject config text. The
// Stream's Line, Col and Span are zero.
func StreamFromRequest(r Request, opt config.Options) (config.Stream, error) {
	if err := CheckName(r.Name); err != nil {
		return config.Stream{}, err
	}
	kw := "stream"
	switch r.Type {
	case "", TypeStatic:
	case TypeOnDemand:
		kw = "ondemand"
	case TypeLive:
		kw = "live"
	default:
		return config.Stream{}, fmt.Errorf("ctl: type %s is not %s, %s or %s", config.Quote(r.Type), TypeStatic, TypeOnDemand, TypeLive)
	}
	inputs := r.Inputs
	switch {
	case r.Input != "" && len(inputs) > 0:
		return config.Stream{}, errors.New("ctl: give input or inputs, not both")
	case r.Input != "":
		inputs = []InputJSON{{URL: r.Input}}
	case len(inputs) == 0 && r.Type != TypeLive: // a live stream's source connects to it
		return config.Stream{}, fmt.Errorf("ctl: stream %s has no input", config.Quote(r.Name))
	case len(inputs) > config.MaxValues:
		return config.Stream{}, fmt.Errorf("ctl: stream %s has more than %d inputs", config.Quote(r.Name), config.MaxValues)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s {\n", kw, configQuote(r.Name))
	for i, in := range inputs {
		if err := checkURLText(in.URL); err != nil {
			return config.Stream{}, err
		}
		// A config file may name inputs slabcast cannot read yet (they are
		// kept and skipped); a request to add one is refused at once.
		if scheme, _, ok := strings.Cut(in.URL, "://"); ok && !config.ReadsScheme(scheme) {
			return config.Stream{}, fmt.Errorf("ctl: input %s: %s:// is not supported by slabcast yet (it reads %s://)",
				config.Quote(in.URL), scheme, strings.Join(config.InputSchemes, "://, "))
		}
		for _, prev := range inputs[:i] {
			if prev.URL == in.URL {
				return config.Stream{}, fmt.Errorf("ctl: input %s is listed twice", config.Quote(in.URL))
			}
		}
		b.WriteString("input ")
		b.WriteString(configQuote(in.URL))
		if err := eachValue(config.PerInput, in.Settings, "input: ", func(key, v string) {
			b.WriteString(" " + configQuote(key+"="+v))
		}); err != nil {
			return config.Stream{}, err
		}
		b.WriteString(";\n")
	}
	if err := eachValue(config.PerStream, r.Settings, "", func(key, v string) {
		fmt.Fprintf(&b, "%s %s;\n", key, configQuote(v))
	}); err != nil {
		return config.Stream{}, err
	}
	b.WriteString("}\n")
	cfg, err := config.Parse("request", []byte(b.String()), opt)
	if err != nil {
		var e *config.Error
		if errors.As(err, &e) {
			return config.Stream{}, &reqError{msg: "ctl: " + e.Msg, err: e.Err}
		}
		return config.Stream{}, fmt.Errorf("ctl: %w", err)
	}
	if len(cfg.Streams) != 1 {
		panic("BUG: ctl: a request's config text has " + strconv.Itoa(len(cfg.Streams)) + " streams")
	}
	s := cfg.Streams[0]
	s.File, s.Line, s.Col, s.Span = "", 0, 0, config.Span{}
	return s, nil
}

// eachValue calls put with the config text of each value of vals, for the
// settings of scope in table order; prefix goes before keys in messages.
func eachValue(scope config.Scope, vals map[string]string, prefix string, put func(key, v string)) error {
	for _, set := range config.Settings {
		v, ok := vals[set.Name]
		if set.Scope != scope || !ok {
			continue
		}
		if set.Kind.Numeric() && !(set.Never && v == "false") {
			var err error
			if v, err = numberText(prefix+set.Name, v); err != nil {
				return err
			}
		}
		if v != "" {
			put(set.Name, v)
		}
	}
	return nil
}

// configQuote quotes s as the config lexer reads a quoted value: \ and "
// are escaped. s must not hold a newline or control character.
func configQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// numberText turns a JSON number into the config's way of writing it: the
// literal as it is, or, with an exponent, in plain decimal. "" stays "".
// Range and form (whole, non-negative) are the parser's to check.
func numberText(key, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') || !json.Valid([]byte(s)) {
		return "", fmt.Errorf("ctl: %s: %s is not a number", key, config.Quote(s))
	}
	if !strings.ContainsAny(s, "eE") {
		return s, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", fmt.Errorf("ctl: %s: %s is out of range", key, config.Quote(s))
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// StreamToJSON gives a stream's settings for an answer: every setting with
// its effective value, the inputs always as Inputs, and an input's options
// only where it has its own (config.Setting.InputGiven). StreamFromRequest
// of the result gives back an Equal stream.
func StreamToJSON(s config.Stream) StreamJSON {
	j := StreamJSON{
		Name:     s.Name,
		Type:     TypeStatic,
		Inputs:   make([]InputJSON, len(s.Inputs)),
		Settings: map[string]string{},
	}
	switch {
	case s.Live:
		j.Type = TypeLive
	case s.OnDemand:
		j.Type = TypeOnDemand
	}
	for _, set := range config.Settings {
		if set.Scope == config.PerStream {
			v := set.StreamJSON(&s)
			if (set.Kind == config.Text || set.Kind == config.Words) && v == "" {
				continue // not set: a password of "" is no password
			}
			j.Settings[set.Name] = v
		}
	}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		ij := InputJSON{URL: in.URL}
		for _, set := range config.Settings {
			if set.Scope == config.PerInput && set.InputGiven(&s, in) {
				if ij.Settings == nil {
					ij.Settings = map[string]string{}
				}
				ij.Settings[set.Name] = set.InputJSON(in)
			}
		}
		j.Inputs[i] = ij
	}
	return j
}

// RemoteError is an error the server answered with ({"ok":false}).
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }
