package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The parser reads statements from the lexer and applies them: globals and
// stream settings through the table (Settings), streams and inputs itself.
// Directives of real Flussonic configs that slabcast does not implement are
// skipped with a warning.

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

type parser struct {
	lx           *lexer
	opt          Options
	cfg          Config
	names        map[string]int // stream name -> line
	globals      map[string]int // line where each global was set
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
			if len(st.args) == MaxValues {
				return st, p.errAt(t, "%s: more than %d values", label, MaxValues)
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
	p.globals = map[string]int{}
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
	for _, set := range Settings {
		if set.Scope == Global && p.globals[set.Name] == 0 && set.Default != "" {
			if msg := set.set(set.ptr(&p.cfg, nil, nil), set.Name, set.Default); msg != "" {
				panic("BUG: config: default of " + set.Name + ": " + msg)
			}
		}
	}
	return nil
}

// top handles a top-level statement.
func (p *parser) top(st stmt) *Error {
	name := st.name.text
	switch name {
	case "stream", "ondemand":
		return p.stream(st)
	case "include":
		return p.errAt(st.name, "include is not supported by slabcast; put the streams in this file")
	case "input", "url":
		return p.errAt(st.name, "%s is only allowed inside a stream block", name)
	}
	if set := Lookup(Global, name); set != nil {
		return p.global(set, st)
	}
	if Lookup(PerStream, name) != nil {
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

// assign applies the one-value statement st of setting set, stored at ptr;
// seen holds the line where each setting of its block was set.
func (p *parser) assign(set *Setting, ptr any, st stmt, seen map[string]int) *Error {
	name := st.name.text
	if line := seen[name]; line != 0 {
		return p.errAt(st.name, "%s is already set at line %d", name, line)
	}
	v, err := p.value(st)
	if err != nil {
		return err
	}
	seen[name] = st.name.pos.line
	if msg := set.set(ptr, name, v.text); msg != "" {
		return p.errAt(v, "%s", msg)
	}
	return nil
}

func (p *parser) global(set *Setting, st stmt) *Error {
	return p.assign(set, set.ptr(&p.cfg, nil, nil), st, p.globals)
}

// streamState is a stream being parsed.
type streamState struct {
	s    Stream
	seen map[string]int // line of each stream setting set
	urls map[string]int // input URL -> line
}

func (p *parser) stream(st stmt) *Error {
	kw := st.name.text
	if len(st.args) == 0 {
		return p.errAt(st.term, "%s: missing stream name", kw)
	}
	nameTok := st.args[0]
	name := nameTok.text
	if msg := nameProblem(name); msg != "" {
		return p.errAt(nameTok, "%s", msg)
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
		seen: map[string]int{},
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
	fillDefaults(s, func(set *Setting) bool { return ss.seen[set.Name] == 0 }, func(in *Input, set *Setting) bool {
		return isZero(set.ptr(nil, nil, in))
	})
	p.cfg.Streams = append(p.cfg.Streams, *s)
	return nil
}

// fillDefaults gives the settings of s that absent reports with their
// defaults, and the input settings that inAbsent reports with the value
// they inherit from the stream (or their own default).
func fillDefaults(s *Stream, absent func(*Setting) bool, inAbsent func(*Input, *Setting) bool) {
	for _, set := range Settings {
		if set.Scope == PerStream && set.Default != "" && absent(set) {
			if msg := set.set(set.ptr(nil, s, nil), set.Name, set.Default); msg != "" {
				panic("BUG: config: default of " + set.Name + ": " + msg)
			}
		}
	}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		for _, set := range Settings {
			if set.Scope != PerInput || !inAbsent(in, set) {
				continue
			}
			v := set.Default
			if set.Inherit != "" {
				v = Lookup(PerStream, set.Inherit).StreamText(s)
			}
			if v == "" {
				continue
			}
			if msg := set.set(set.ptr(nil, nil, in), set.Name, v); msg != "" {
				panic("BUG: config: inherited " + set.Name + ": " + msg)
			}
		}
	}
}

func (p *parser) streamDirective(ss *streamState, st stmt) *Error {
	name := st.name.text
	switch name {
	case "input", "url": // url is Flussonic's old name for input
		if st.term.kind == tokOpen {
			return p.errAt(st.term, "%s does not take a block", name)
		}
		if len(st.args) == 0 {
			return p.errAt(st.term, "%s: missing URL", name)
		}
		return p.input(ss, st.args[0], st.args[1:])
	case "stream", "ondemand":
		return p.errAt(st.name, "%s is not allowed inside a stream block; is a '}' missing before it?", name)
	case "include":
		return p.errAt(st.name, "include is not supported by slabcast; put the streams in this file")
	}
	if set := Lookup(PerStream, name); set != nil {
		return p.assign(set, set.ptr(nil, &ss.s, nil), st, ss.seen)
	}
	if Lookup(Global, name) != nil {
		return p.errAt(st.name, "%s is not allowed inside a stream block", name)
	}
	return p.other(st)
}

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
	var seen []*Setting
	for _, o := range opts {
		k, v, ok := strings.Cut(o.text, "=")
		if !ok {
			return p.errAt(o, "input: %s is not a key=value option", quote(o.text))
		}
		set := Lookup(PerInput, k)
		if set == nil {
			return p.errAt(o, "input: unknown option %s (slabcast knows %s)", quote(k), inputOptionList)
		}
		for _, x := range seen {
			if x == set {
				return p.errAt(o, "input: %s is given twice", k)
			}
		}
		seen = append(seen, set)
		if msg := set.set(set.ptr(nil, nil, &in), "input: "+k, v); msg != "" {
			return p.errAt(o, "%s", msg)
		}
	}
	ss.s.Inputs = append(ss.s.Inputs, in)
	return nil
}

// inputOptionList names the input options for messages: "a, b and c".
var inputOptionList = func() string {
	names := Names(PerInput)
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}()

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
		return errors.New("config: only udp:// and rtp:// inputs are supported")
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("config: expected %s://HOST:PORT", u.Scheme)
	}
	port := u.Port()
	if port == "" {
		return errors.New("config: missing port")
	}
	if n, ok := parseInt(port); !ok || n < 1 || n > 65535 {
		return fmt.Errorf("config: port %s is not 1..65535", port)
	}
	return nil
}
