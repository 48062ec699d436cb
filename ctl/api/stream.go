package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
)

// reserved are first path elements the console and the API take: a stream
// under them could never be played.
var reserved = map[string]bool{"admin": true, "streamer": true}

// PublishURL is the input a live (published-to) stream shows in the API, as
// Flussonic writes it.
const PublishURL = "publish://"

// object is a JSON object that keeps its keys in the order given.
type object []field

type field struct {
	k string
	v any
}

func (o object) MarshalJSON() ([]byte, error) { return o.appendJSON(nil) }

// appendJSON appends o to b. Values of the kinds the API's answers hold
// are written directly: encoding/json would check and compact the output
// of every nested MarshalJSON again, level by level, which made a list of
// 40 streams cost milliseconds.
func (o object) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, f.v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case object:
		return x.appendJSON(b)
	case []object:
		b = append(b, '[')
		for i, o := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = o.appendJSON(b); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case json.RawMessage:
		return append(b, x...), nil
	case map[string]uint64:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // as encoding/json orders a map
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = strconv.AppendUint(b, x[k], 10)
		}
		return append(b, '}'), nil
	}
	m, err := json.Marshal(v) // floats, times, lists of numbers
	if err != nil {
		return nil, err
	}
	return append(b, m...), nil
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML-safe).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			m, _ := json.Marshal(s)
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// get returns the value of key, nil if o has none.
func (o object) get(key string) any {
	for _, f := range o {
		if f.k == key {
			return f.v
		}
	}
	return nil
}

// secret are the settings a view_auth client does not see.
var secret = map[string]bool{"password": true, "passphrase": true, "streamid": true}

// configObject is stream s's config as the API gives it: name, static,
// inputs, then every stream setting with its effective value, durations in
// seconds but segment_duration in milliseconds (Flussonic's units).
func configObject(s config.Stream, a Access) object {
	j := ctl.StreamToJSON(s)
	o := object{{"name", s.Name}, {"static", !s.OnDemand}}
	var inputs []object
	if s.Live {
		inputs = append(inputs, object{{"url", PublishURL}})
	}
	for _, in := range j.Inputs {
		io := object{{"url", shownURL(in.URL, a)}}
		io = appendSettings(io, config.PerInput, in.Settings, a)
		inputs = append(inputs, io)
	}
	if inputs == nil {
		inputs = []object{}
	}
	o = append(o, field{"inputs", inputs})
	return appendSettings(o, config.PerStream, j.Settings, a)
}

// shownURL hides an input URL's password from a client that may only read.
func shownURL(u string, a Access) string {
	if a == Edit {
		return u
	}
	if x, err := url.Parse(u); err == nil {
		return x.Redacted()
	}
	return u
}

func appendSettings(o object, scope config.Scope, vals map[string]string, a Access) object {
	for _, set := range config.Settings {
		v, ok := vals[set.Name]
		if set.Scope != scope || !ok || (a != Edit && secret[set.Name]) {
			continue
		}
		o = append(o, field{set.Name, settingValue(set, v)})
	}
	return o
}

// settingValue turns the control protocol's text of a value into the API's
// JSON value.
func settingValue(set *config.Setting, v string) any {
	switch {
	case set.Never && v == "false", set.Kind == config.Flag:
		return v == "true"
	case set.APIMillis:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return int64(f*1000 + 0.5)
		}
	case set.Kind.Numeric():
		if json.Valid([]byte(v)) {
			return json.RawMessage(v)
		}
	}
	return v
}

// streamKeys are the keys a stream object may have in a request besides
// the settings: stats is read-only and ignored, so what GET gave can be
// PUT back.
var streamKeys = map[string]bool{"name": true, "static": true, "inputs": true, "stats": true, "$reset": true}

// fromObject turns a stream object (as merged from a PUT) into a stream the
// daemon can add, validated as the config parser would, with errors that
// point at the offending field.
//
// A stream written `live NAME` in the file shows publish:// as its first
// input; given back, that input keeps it live. For a new stream, publish://
// as its only input makes it live too; elsewhere publish:// is an input
// like the others, as Flussonic writes it.
func fromObject(name string, obj map[string]json.RawMessage, wasLive bool, opt config.Options) (config.Stream, *Error) {
	bad := func(code, ptr, title string) *Error {
		return &Error{Status: 400, Code: code, Title: title, Pointer: ptr}
	}
	for k := range obj {
		if !streamKeys[k] && config.Lookup(config.PerStream, k) == nil {
			return config.Stream{}, bad("unknown_field", "/"+pointerEscape(k), "unknown field "+strconv.Quote(k))
		}
	}
	if raw, ok := obj["name"]; ok {
		var n string
		if json.Unmarshal(raw, &n) != nil || n != name {
			return config.Stream{}, bad("bad_value", "/name", "name must be the stream's own, "+strconv.Quote(name)+", as in the URL")
		}
	}
	req := map[string]any{"cmd": ctl.CmdAdd, "name": name, "type": ctl.TypeStatic}
	if raw, ok := obj["static"]; ok {
		var static bool
		if json.Unmarshal(raw, &static) != nil {
			return config.Stream{}, bad("bad_value", "/static", "static must be true or false")
		}
		if !static {
			req["type"] = ctl.TypeOnDemand
		}
	}
	var inputs []map[string]json.RawMessage
	if raw, ok := obj["inputs"]; ok {
		if json.Unmarshal(raw, &inputs) != nil {
			return config.Stream{}, bad("bad_value", "/inputs", "inputs must be a list of objects")
		}
	}
	var list []map[string]json.RawMessage
	for i, in := range inputs {
		ptr := "/inputs/" + strconv.Itoa(i)
		if in == nil {
			return config.Stream{}, bad("bad_value", ptr, "an input must be an object")
		}
		var u string
		if json.Unmarshal(in["url"], &u) != nil || u == "" {
			return config.Stream{}, bad("bad_value", ptr+"/url", "an input needs a url")
		}
		if u == PublishURL && (wasLive || len(inputs) == 1) {
			if req["type"] == ctl.TypeOnDemand {
				return config.Stream{}, bad("bad_value", ptr+"/url", "a stream published to (publish://) is static")
			}
			req["type"] = ctl.TypeLive
			continue
		}
		clean := map[string]json.RawMessage{}
		for k, v := range in {
			switch {
			case k == "stats":
			case k == "url" || config.Lookup(config.PerInput, k) != nil:
				clean[k] = v
			default:
				return config.Stream{}, bad("unknown_field", ptr+"/"+pointerEscape(k), "unknown input option "+strconv.Quote(k))
			}
		}
		list = append(list, clean)
	}
	if len(list) > 0 {
		req["inputs"] = list
	}
	for k, v := range obj {
		set := config.Lookup(config.PerStream, k)
		if set == nil || isNull(v) {
			continue
		}
		if set.APIMillis {
			var ms float64
			if json.Unmarshal(v, &ms) != nil {
				return config.Stream{}, bad("bad_value", "/"+k, k+" must be a number of milliseconds")
			}
			v = json.RawMessage(strconv.FormatFloat(ms/1000, 'f', -1, 64))
		}
		req[k] = v
	}
	// Each input alone first, so an error names the input it is about.
	for i, in := range list {
		one := map[string]any{"cmd": ctl.CmdAdd, "name": name, "type": req["type"], "inputs": []map[string]json.RawMessage{in}}
		if _, err := validate(one, opt); err != nil {
			return config.Stream{}, bad("bad_value", inputPointer(i, in, err), title(err))
		}
	}
	s, err := validate(req, opt)
	if err != nil {
		ptr := ""
		for k := range obj {
			if config.Lookup(config.PerStream, k) != nil && strings.Contains(err.Error(), k) {
				ptr = "/" + k
			}
		}
		if ptr == "" && strings.Contains(err.Error(), "no input") {
			ptr = "/inputs"
		}
		return config.Stream{}, bad("bad_value", ptr, title(err))
	}
	return s, nil
}

// validate runs a request through the control protocol's checks.
func validate(req map[string]any, opt config.Options) (config.Stream, error) {
	line, err := json.Marshal(req)
	if err != nil {
		return config.Stream{}, err
	}
	r, err := ctl.ParseRequest(line)
	if err != nil {
		return config.Stream{}, err
	}
	return ctl.StreamFromRequest(r, opt)
}

// inputPointer points at the option of input i that err names, or its url.
func inputPointer(i int, in map[string]json.RawMessage, err error) string {
	ptr := "/inputs/" + strconv.Itoa(i)
	for k := range in {
		if k != "url" && strings.Contains(err.Error(), k) {
			return ptr + "/" + pointerEscape(k)
		}
	}
	return ptr + "/url"
}

// title is an error's message for people, without the control protocol's
// "ctl: " prefix.
func title(err error) string {
	return strings.TrimPrefix(err.Error(), "ctl: ")
}

func pointerEscape(k string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
}

func isNull(r json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(r), []byte("null")) }

// stateOf is what the daemon knows of a stream beyond its config.
type stateOf struct {
	status ctl.StreamStatus
	stats  *ctl.StreamStats // nil unless it runs
}

// streamObject is the API's stream: its config and its stats.
func streamObject(s config.Stream, st stateOf, a Access, now time.Time) object {
	o := configObject(s, a)
	active := st.status.ActiveInput
	if active == "" && st.stats != nil {
		active = st.stats.ActiveInput
	}
	// Each input's own state.
	for i, f := range o {
		if f.k != "inputs" {
			continue
		}
		ins := f.v.([]object)
		for j, in := range ins {
			u, _ := in.get("url").(string)
			isActive := u != PublishURL && active != "" && shownURL(u, View) == active
			if u == PublishURL {
				isActive = st.status.Publisher != nil
			}
			ins[j] = append(in, field{"stats", object{{"active", isActive}}})
		}
		o[i].v = ins
	}
	return append(o, field{"stats", statsObject(s, st, now)})
}

// playbackURLs lists the paths a player can play the stream at, on any
// HTTP listener of the daemon: every output, or for a drm stream the one
// that is encrypted (the others answer 403).
func playbackURLs(s config.Stream) object {
	var b strings.Builder
	for i, part := range strings.Split(s.Name, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(part))
	}
	base := "/" + b.String() + "/"
	if s.DRM != "" {
		return object{{"hls", base + "index.m3u8"}}
	}
	return object{
		{"hls", base + "index.m3u8"},
		{"hls_fmp4", base + "index.fmp4.m3u8"},
		{"ll_hls", base + "index.ll.m3u8"},
		{"dash", base + "index.mpd"},
		{"mpegts", base + "mpegts"},
	}
}

// statsObject gives a stream's state under Flussonic's names.
func statsObject(s config.Stream, st stateOf, now time.Time) object {
	status := "error"
	switch st.status.Status {
	case ctl.StatusRunning:
		status = "running"
	case ctl.StatusWaiting:
		status = "waiting"
	case ctl.StatusDisabled:
		status = "stopped"
	case ctl.StatusDown:
		// A stream just started has had no time to get data yet.
		if st.stats != nil && time.Duration(st.stats.UptimeSeconds*float64(time.Second)) < s.SourceTimeout {
			status = "waiting"
		}
	}
	o := object{{"status", status}, {"alive", st.status.Status == ctl.StatusRunning}, {"playback_urls", playbackURLs(s)}}
	if st.status.Error != "" {
		o = append(o, field{"error", st.status.Error})
	}
	if st.status.ActiveInput != "" {
		o = append(o, field{"active_input", st.status.ActiveInput})
	}
	if p := st.status.Publisher; p != nil {
		o = append(o, field{"publisher", object{{"addr", p.Addr}, {"protocol", p.Protocol}, {"since", p.Since}}})
	}
	x := st.stats
	if x == nil {
		return append(o, field{"bitrate", 0}, field{"bytes_in", 0}, field{"online_clients", 0}, field{"lifetime", 0})
	}
	delay := int64(-1) // no data yet
	if !x.LastData.IsZero() {
		delay = max(0, now.Sub(x.LastData).Milliseconds())
	}
	packets := x.Counter("packets_in")
	lost := x.Counter("ts_lost")
	rate := 0.0
	if packets+lost > 0 {
		rate = float64(lost+x.Counter("bad_datagrams")) / float64(packets+lost)
	}
	errs := x.Counter("errors.connect") + x.Counter("errors.status") + x.Counter("errors.read") + x.Counter("errors.not_ts")
	o = append(o,
		field{"bitrate", (x.BitrateBps + 500) / 1000},
		field{"bytes_in", x.Counter("bytes_in")},
		field{"online_clients", x.Clients},
		field{"lifetime", int64(x.UptimeSeconds * 1000)},
		field{"ts_delay", delay},
		field{"retry_count", errs},
		field{"input_error_rate", rate},
		field{"cc_errors", x.TSErrors["Continuity_count_error"]},
		field{"lost_packets", lost},
		field{"segments", x.Counter("segments")},
		field{"ts_errors", x.TSErrors},
		field{"media_info", object{{"tracks", tracks(x.PIDs)}}},
	)
	return o
}

// tracks lists the stream's elementary streams by their PIDs' codecs.
func tracks(pids []ctl.PIDStats) []object {
	out := []object{}
	nv, na := 0, 0
	for _, p := range pids {
		content := ""
		switch p.Codec {
		case "h264", "hevc", "mpeg2video", "mpeg4video":
			content, nv = "video", nv+1
		case "aac", "aac_latm", "mpegaudio", "ac3", "eac3", "dts":
			content, na = "audio", na+1
		default:
			continue
		}
		id := "v" + strconv.Itoa(nv)
		if content == "audio" {
			id = "a" + strconv.Itoa(na)
		}
		t := object{{"track_id", id}, {"content", content}, {"codec", p.Codec}, {"pid", p.PID}}
		if p.Width > 0 && p.Height > 0 {
			t = append(t, field{"width", p.Width}, field{"height", p.Height})
		}
		out = append(out, t)
	}
	return out
}

// states gathers the state of every stream in one pass.
func (h *Handler) states() map[string]stateOf {
	m := map[string]stateOf{}
	for _, st := range h.b.List() {
		m[st.Name] = stateOf{status: st}
	}
	all, _ := h.b.Stats("")
	for i := range all {
		x := &all[i]
		s := m[x.Name]
		s.stats = x
		m[x.Name] = s
	}
	return m
}

func (h *Handler) get(ctx *fasthttp.RequestCtx, cfg *config.Config, name string, a Access) {
	s, ok := cfg.Stream(name)
	if !ok {
		WriteError(ctx, notFound(name))
		return
	}
	writeJSON(ctx, 200, streamObject(s, h.state(name), a, h.now()))
}

func (h *Handler) state(name string) stateOf {
	var st stateOf
	if _, status, err := h.b.Show(name); err == nil {
		st.status = status
	}
	if x, err := h.b.Stats(name); err == nil && len(x) == 1 {
		st.stats = &x[0]
	}
	return st
}

func notFound(name string) *Error {
	return &Error{Status: 404, Code: "not_found", Title: "no stream " + strconv.Quote(name)}
}

func (h *Handler) put(ctx *fasthttp.RequestCtx, name string) {
	if err := ctl.CheckName(name); err != nil {
		WriteError(ctx, &Error{Status: 400, Code: "bad_name", Title: title(err), Pointer: "/name"})
		return
	}
	if top, _, _ := strings.Cut(name, "/"); reserved[top] {
		WriteError(ctx, &Error{Status: 400, Code: "bad_name", Pointer: "/name",
			Title: "stream name " + strconv.Quote(name) + " would be shadowed by the console or the API (/" + top + "/)"})
		return
	}
	raw, berr := body(ctx)
	if berr != nil {
		WriteError(ctx, berr)
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil || patch == nil {
		WriteError(ctx, &Error{Status: 400, Code: "bad_json", Title: "the body is not a JSON object: " + jsonProblem(err)})
		return
	}
	// One change at a time, from reading the stream to applying the
	// merge, so that concurrent PUTs of one stream each see the other's.
	h.mu.Lock()
	defer h.mu.Unlock()
	cfg := h.b.Config()
	old, exists := cfg.Stream(name)
	merged := map[string]json.RawMessage{}
	reset := false
	if r, ok := patch["$reset"]; ok {
		if json.Unmarshal(r, &reset) != nil {
			WriteError(ctx, &Error{Status: 400, Code: "bad_value", Title: "$reset must be true or false", Pointer: "/$reset"})
			return
		}
	}
	if exists && !reset {
		b, _ := json.Marshal(configObject(old, Edit))
		json.Unmarshal(b, &merged)
	}
	for k, v := range patch {
		switch {
		case k == "$reset":
		case isNull(v):
			delete(merged, k)
		default:
			merged[k] = v
		}
	}
	s, verr := fromObject(name, merged, exists && old.Live, h.opt)
	if verr != nil {
		WriteError(ctx, verr)
		return
	}
	var err error
	if exists {
		err = h.b.Update(s)
	} else {
		err = h.b.Add(s)
	}
	h.lists.clear()
	if err != nil {
		WriteError(ctx, &Error{Status: 400, Code: "rejected", Title: title(err)})
		return
	}
	verb := "changed"
	if !exists {
		verb = "created"
	}
	h.logf("api: %s %s stream %s", peer(ctx), verb, name)
	now, ok := h.b.Config().Stream(name)
	if !ok {
		now = s
	}
	writeJSON(ctx, 200, streamObject(now, h.state(name), Edit, h.now()))
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	if err != nil {
		return err.Error()
	}
	return "null"
}

func (h *Handler) delete(ctx *fasthttp.RequestCtx, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.b.Config().Stream(name); !ok {
		WriteError(ctx, notFound(name))
		return
	}
	err := h.b.Remove(name)
	h.lists.clear()
	if err != nil {
		WriteError(ctx, &Error{Status: 400, Code: "rejected", Title: title(err)})
		return
	}
	h.logf("api: %s deleted stream %s", peer(ctx), name)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (h *Handler) config(ctx *fasthttp.RequestCtx, cfg *config.Config) {
	var listeners []object
	for _, l := range cfg.HTTP {
		listeners = append(listeners, object{{"address", l.Addr}, {"api", l.API}})
	}
	o := object{
		{"server_version", serverVersion()},
		{"http", listeners},
		{"streams_count", len(cfg.Streams)},
		{"memory", cfg.Memory},
		{"cpus", cfg.CPUs},
		{"multicast_ring", cfg.MulticastRing},
		{"edit_auth", cfg.EditAuth != nil},
		{"view_auth", cfg.ViewAuth != nil},
		{"api_allowed_from", len(cfg.APIAllowedFrom)},
	}
	writeJSON(ctx, 200, o)
}

// serverVersion is "slabcast" and the commit the binary was built from,
// when the build recorded it (go build in a git checkout).
var serverVersion = sync.OnceValue(func() string {
	v := "slabcast"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := info.Main.Version; mv != "" && mv != "(devel)" {
		v += " " + mv
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev
		if dirty {
			v += "+dirty"
		}
	}
	return v
})
