package ctl

// The control protocol (SPEC.md §5): newline-delimited JSON over a unix
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
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
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
// block under their own names, durations in seconds. In requests every
// option may be left out and gets the config file's default; in answers
// (show, add, update) every setting is given with its effective value.
type StreamJSON struct {
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"` // "static" (also "") or "ondemand"
	// Input is a short form of Inputs for a stream with one input and no
	// input options; a request gives Input or Inputs, not both.
	Input           string      `json:"input,omitempty"`
	Inputs          []InputJSON `json:"inputs,omitempty"`
	SegmentDuration json.Number `json:"segment_duration,omitempty"` // seconds
	SegmentCount    json.Number `json:"segment_count,omitempty"`
	SourceTimeout   json.Number `json:"source_timeout,omitempty"`  // seconds; default of each input's
	ClientsTimeout  json.Number `json:"clients_timeout,omitempty"` // seconds
}

// InputJSON is one input with the options of a config input line.
type InputJSON struct {
	URL           string      `json:"url"`
	Priority      json.Number `json:"priority,omitempty"`
	SourceTimeout json.Number `json:"source_timeout,omitempty"` // seconds
	Program       json.Number `json:"program,omitempty"`
	Rcvbuf        json.Number `json:"rcvbuf,omitempty"` // bytes
}

// Stream types in StreamJSON.Type and StreamStatus.Type.
const (
	TypeStatic   = "static"
	TypeOnDemand = "ondemand"
)

// Stream statuses in StreamStatus.Status.
const (
	StatusRunning = "running" // data is arriving
	StatusWaiting = "waiting" // ondemand and not started: no client asked
	StatusDown    = "down"    // started, but no input delivers
)

// StreamStatus is a stream's state as list, show and stats give it.
type StreamStatus struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`   // TypeStatic or TypeOnDemand
	Status      string   `json:"status"` // StatusRunning, StatusWaiting or StatusDown
	Inputs      []string `json:"inputs"` // URLs in config order
	ActiveInput string   `json:"active_input,omitempty"`
}

// StreamStats are a stream's counters since it (or its current run, for an
// ondemand stream) started.
type StreamStats struct {
	StreamStatus
	UptimeSeconds float64 `json:"uptime_seconds"`
	BitrateBps    uint64  `json:"bitrate_bps"` // input bits a second, recent
	BytesIn       uint64  `json:"bytes_in"`
	PacketsIn     uint64  `json:"packets_in"` // TS packets
	DatagramsIn   uint64  `json:"datagrams_in"`
	BadDatagrams  uint64  `json:"bad_datagrams"` // not whole TS packets
	// Filtered counts datagrams the socket filter refused, by reason
	// ("size", "sync", "rtp").
	Filtered        map[string]uint64 `json:"filtered,omitempty"`
	KernelDrops     uint64            `json:"kernel_drops"` // receive buffer overflows
	TSLost          uint64            `json:"ts_lost"`      // by continuity counters
	RTPLost         uint64            `json:"rtp_lost"`
	Dropped         uint64            `json:"dropped"`             // packets not stored for lack of slab memory
	TSErrors        map[string]uint64 `json:"ts_errors,omitempty"` // by TR 101 290 indicator name
	Clients         int               `json:"clients"`
	Segments        uint64            `json:"segments"`
	Discontinuities uint64            `json:"discontinuities"`
	PIDs            []PIDStats        `json:"pids,omitempty"`
}

// PIDStats are the counts of one PID of a stream's input.
type PIDStats struct {
	PID     uint16 `json:"pid"`
	Packets uint64 `json:"packets"`
	Lost    uint64 `json:"lost"`
	Codec   string `json:"codec,omitempty"`
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
	streamKeys = []string{"name", "type", "input", "inputs", "segment_duration", "segment_count", "source_timeout", "clients_timeout"}
	inputKeys  = []string{"url", "priority", "source_timeout", "program", "rcvbuf"}
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
		return Request{}, fmt.Errorf("ctl: unknown command %s (commands: %s)", quote(req.Cmd), strings.Join(cmdNames, ", "))
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
	if err := json.Unmarshal(line, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Request{}, fmt.Errorf("ctl: %s: expected %s, found a JSON %s", quote(jsonPath(te.Field)), jsonKind(te.Type), te.Value)
		}
		return Request{}, fmt.Errorf("ctl: bad request: %w", err)
	}
	return req, nil
}

// jsonPath turns the decoder's field path ("StreamJSON.inputs.url") into the
// request's ("inputs.url").
func jsonPath(f string) string { return strings.TrimPrefix(f, "StreamJSON.") }

// jsonKind names what a request should have given for a Go type.
func jsonKind(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[json.Number]():
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Struct:
		return "an object"
	}
	return t.String()
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
			return fmt.Errorf("ctl: %s takes no %s", where, quote(k))
		case known:
			return fmt.Errorf("ctl: %s takes no %s (it takes %s)", where, quote(k), strings.Join(allowed, ", "))
		case len(allowed) == 0:
			return fmt.Errorf("ctl: unknown key %s (%s takes none)", quote(k), where)
		}
		return fmt.Errorf("ctl: unknown key %s in %s (known: %s)", quote(k), where, strings.Join(allowed, ", "))
	}
	return nil
}

// CheckName checks a stream name by the config file's rules: 1 to
// MaxNameLen of Latin letters, digits, '.', '-', '_', and not "." or "..".
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("ctl: stream name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("ctl: stream name %s is longer than %d characters", quote(name), MaxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("ctl: stream name %s is not allowed", quote(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("ctl: stream name %s has characters other than letters, digits, '.', '-', '_'", quote(name))
		}
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
	case len(u) > MaxToken:
		return fmt.Errorf("ctl: input URL is longer than %d bytes", MaxToken)
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("ctl: input %s: URL has a space, control or non-ASCII character at byte %d", quote(u), i)
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
func StreamFromRequest(r Request, opt Options) (Stream, error) {
	if err := CheckName(r.Name); err != nil {
		return Stream{}, err
	}
	kw := "stream"
	switch r.Type {
	case "", TypeStatic:
	case TypeOnDemand:
		kw = "ondemand"
	default:
		return Stream{}, fmt.Errorf("ctl: type %s is neither %s nor %s", quote(r.Type), TypeStatic, TypeOnDemand)
	}
	inputs := r.Inputs
	switch {
	case r.Input != "" && len(inputs) > 0:
		return Stream{}, errors.New("ctl: give input or inputs, not both")
	case r.Input != "":
		inputs = []InputJSON{{URL: r.Input}}
	case len(inputs) == 0:
		return Stream{}, fmt.Errorf("ctl: stream %s has no input", quote(r.Name))
	case len(inputs) > maxArgs:
		return Stream{}, fmt.Errorf("ctl: stream %s has more than %d inputs", quote(r.Name), maxArgs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s {\n", kw, configQuote(r.Name))
	for i, in := range inputs {
		if err := checkURLText(in.URL); err != nil {
			return Stream{}, err
		}
		for _, prev := range inputs[:i] {
			if prev.URL == in.URL {
				return Stream{}, fmt.Errorf("ctl: input %s is listed twice", quote(in.URL))
			}
		}
		b.WriteString("input ")
		b.WriteString(configQuote(in.URL))
		for _, o := range [...]struct {
			key string
			v   json.Number
		}{{"priority", in.Priority}, {"source_timeout", in.SourceTimeout}, {"program", in.Program}, {"rcvbuf", in.Rcvbuf}} {
			v, err := numberText("input: "+o.key, o.v)
			if err != nil {
				return Stream{}, err
			}
			if v != "" {
				b.WriteString(" " + configQuote(o.key+"="+v))
			}
		}
		b.WriteString(";\n")
	}
	for _, o := range [...]struct {
		key string
		v   json.Number
	}{{"segment_duration", r.SegmentDuration}, {"segment_count", r.SegmentCount}, {"source_timeout", r.SourceTimeout}, {"clients_timeout", r.ClientsTimeout}} {
		v, err := numberText(o.key, o.v)
		if err != nil {
			return Stream{}, err
		}
		if v != "" {
			fmt.Fprintf(&b, "%s %s;\n", o.key, configQuote(v))
		}
	}
	b.WriteString("}\n")
	cfg, err := Parse("request", []byte(b.String()), opt)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Stream{}, &reqError{msg: "ctl: " + e.Msg, err: e.Err}
		}
		return Stream{}, fmt.Errorf("ctl: %w", err)
	}
	if len(cfg.Streams) != 1 {
		panic("BUG: ctl: a request's config text has " + strconv.Itoa(len(cfg.Streams)) + " streams")
	}
	s := cfg.Streams[0]
	s.Line, s.Col, s.Span = 0, 0, Span{}
	return s, nil
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
func numberText(key string, n json.Number) (string, error) {
	s := string(n)
	if s == "" {
		return "", nil
	}
	if !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') || !json.Valid([]byte(s)) {
		return "", fmt.Errorf("ctl: %s: %s is not a number", key, quote(s))
	}
	if !strings.ContainsAny(s, "eE") {
		return s, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", fmt.Errorf("ctl: %s: %s is out of range", key, quote(s))
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// StreamToJSON gives a stream's settings for an answer: every setting with
// its effective value, the inputs always as Inputs, and an input's
// source_timeout only where it differs from the stream's. StreamFromRequest
// of the result gives back an Equal stream.
func StreamToJSON(s Stream) StreamJSON {
	j := StreamJSON{
		Name:            s.Name,
		Type:            TypeStatic,
		SegmentDuration: seconds(s.SegmentDuration),
		SegmentCount:    json.Number(strconv.Itoa(s.SegmentCount)),
		SourceTimeout:   seconds(s.SourceTimeout),
		ClientsTimeout:  seconds(s.ClientsTimeout),
		Inputs:          make([]InputJSON, len(s.Inputs)),
	}
	if s.OnDemand {
		j.Type = TypeOnDemand
	}
	for i, in := range s.Inputs {
		ij := InputJSON{URL: in.URL}
		if in.Priority != 0 {
			ij.Priority = json.Number(strconv.Itoa(in.Priority))
		}
		if in.SourceTimeout != s.SourceTimeout {
			ij.SourceTimeout = seconds(in.SourceTimeout)
		}
		if in.Program != 0 {
			ij.Program = json.Number(strconv.Itoa(in.Program))
		}
		if in.RecvBuffer != 0 {
			ij.Rcvbuf = json.Number(strconv.Itoa(in.RecvBuffer))
		}
		j.Inputs[i] = ij
	}
	return j
}

// seconds writes d in seconds, exactly: "2", "0.5", "1.000000001".
func seconds(d time.Duration) json.Number {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	s := neg + strconv.FormatInt(int64(d/time.Second), 10)
	if ns := int64(d % time.Second); ns != 0 {
		frac := strconv.FormatInt(ns+1e9, 10)[1:] // nine digits
		s += "." + strings.TrimRight(frac, "0")
	}
	return json.Number(s)
}

// RemoteError is an error the server answered with ({"ok":false}).
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }
