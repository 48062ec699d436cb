package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The parser reads statements from the lexer and applies them: globals and
// stream settings through the table (Settings), streams, inputs and
// includes itself. What real Flussonic configs say that slabcast does not
// implement is kept and skipped with a warning; what would widen access if
// skipped (on_play, auth, …) keeps its stream from starting instead.

// maxIncludeDepth bounds nested includes.
const maxIncludeDepth = 8

type parser struct {
	opt          Options
	lx           *lexer // of the file being read
	cfg          Config
	names        map[string]string // stream name -> where it is defined
	globals      map[string]string // global setting -> where it was set
	moreWarnings int               // warnings beyond maxWarnings
	depth        int               // include nesting of the file being read
	narrow       []string          // top-level directives that narrow access, "on_play (f.conf:3:1)"
}

func newParser(opt Options) *parser {
	return &parser{opt: opt, names: map[string]string{}, globals: map[string]string{}}
}

// stmt is a directive, its values and what ended it (';' or '{').
type stmt struct {
	name  token
	args  []token // at most MaxValues
	extra *token  // the first value beyond MaxValues, if any
	term  token
}

func (p *parser) errAt(t token, format string, args ...any) *Error {
	return p.lx.errAt(t.pos, format, args...)
}

func (p *parser) next() (token, *Error) { return p.lx.next() }

// where names a place for a message: "line 3" in the file being read,
// "other.conf:3" in another.
func (p *parser) where(t token) string {
	return p.lx.file + ":" + fmt.Sprint(t.pos.line)
}

func (p *parser) whereText(w string) string {
	if i := strings.LastIndexByte(w, ':'); i >= 0 && w[:i] == p.lx.file {
		return "line " + w[i+1:]
	}
	return w
}

// warn records a warning at t.
func (p *parser) warn(t token, format string, args ...any) {
	if len(p.cfg.Warnings) < maxWarnings {
		p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s:%d:%d: %s", p.lx.file, t.pos.line, t.pos.col, fmt.Sprintf(format, args...)))
	} else {
		p.moreWarnings++
	}
}

// file parses one config file: src, or what Options.ReadFile reads from
// path when src is nil. inc is the include statement that names it, for an
// included file.
func (p *parser) file(path string, src []byte, inc *token) error {
	if src == nil {
		read := p.opt.ReadFile
		if read == nil {
			read = readFile
		}
		var err error
		if src, err = read(path); err != nil {
			if inc == nil {
				return err // the file itself: no place in it to point at
			}
			e := p.errAt(*inc, "include: %v", err)
			e.Err = err
			return e
		}
	}
	if len(src) > MaxSize {
		return &Error{File: path, Line: 1, Col: 1, Msg: fmt.Sprintf("config is larger than %d MiB", MaxSize>>20)}
	}
	outer := p.lx
	p.lx = newLexer(path, string(src))
	defer func() { p.lx = outer }()
	p.cfg.Files = append(p.cfg.Files, path)
	for {
		st, done, err := p.directive(tokEOF)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if err := p.top(st); err != nil {
			return err
		}
	}
}

// finish applies what the whole config says: the defaults of globals not
// given, and directives at the top that narrow access to every stream.
func (p *parser) finish() (*Config, error) {
	if p.moreWarnings > 0 {
		p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("%s: %d more warnings not shown", p.cfg.Files[0], p.moreWarnings))
	}
	for _, set := range Settings {
		if set.Scope == Global && p.globals[set.Name] == "" && set.Default != "" {
			if msg := set.set(set.ptr(&p.cfg, nil, nil), set.Name, set.Default); msg != "" {
				panic("BUG: config: default of " + set.Name + ": " + msg)
			}
		}
	}
	if len(p.narrow) > 0 {
		for i := range p.cfg.Streams {
			if s := &p.cfg.Streams[i]; s.Problem == "" {
				s.Problem = protectedBy(p.narrow)
			}
		}
	}
	return &p.cfg, nil
}

// protectedBy says why a stream that directives narrow access to is not
// started.
func protectedBy(directives []string) string {
	list := strings.Join(directives, ", ")
	if n := len(directives); n > 1 {
		list = strings.Join(directives[:n-1], ", ") + " and " + directives[n-1]
	}
	return "protected by " + list + ", which slabcast does not enforce yet: not started rather than served to anyone"
}

// statement reads the values of the directive name up to ';' or '{'.
// Values beyond MaxValues are counted, not kept: an ignored directive may
// have any number (api_allowed_from with a long list of networks); one
// slabcast acts on refuses them.
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
			if len(st.args) < MaxValues || name.text == "api_allowed_from" && len(st.args) < MaxNetworks {
				st.args = append(st.args, t)
			} else if st.extra == nil {
				st.extra = &t
			}
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

// used refuses the values of st beyond MaxValues, for a directive slabcast
// acts on.
func (p *parser) used(st stmt) *Error {
	if st.extra != nil {
		return p.errAt(*st.extra, "%s: more than %d values", st.name.text, MaxValues)
	}
	return nil
}

// directive reads the next statement of a block that closer ends: tokEOF
// for the top level, tokClose for a block. At closer it returns done with
// st.term set to it. At the end of file inside a block it returns a stmt
// with st.term the tokEOF and no name.
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

// top handles a top-level statement.
func (p *parser) top(st stmt) *Error {
	name := st.name.text
	switch name {
	case "stream", "ondemand", "live":
		return p.stream(st)
	case "include":
		return p.include(st)
	case "edit_auth", "view_auth":
		return p.auth(st)
	case "api_allowed_from":
		return p.allowedFrom(st)
	case "input", "url":
		return p.errAt(st.name, "%s is only allowed inside a stream block", name)
	}
	if set := Lookup(Global, name); set != nil && enforced(set, st) {
		return p.global(set, st)
	}
	if Lookup(PerStream, name) != nil && !narrowing[name] {
		return p.errAt(st.name, "%s is only allowed inside a stream block", name)
	}
	_, err := p.other(st, nil)
	return err
}

// other handles a directive slabcast does not act on: a Flussonic one is
// skipped with a warning (and, in a stream, kept in ss's Extra), anything
// else is an error. A directive that narrows who may watch or publish keeps
// its stream, or at the top every stream, from starting. It returns the end
// offset of the statement.
func (p *parser) other(st stmt, ss *streamState) (int, *Error) {
	name := st.name.text
	if !knownName(name) {
		return 0, p.errAt(st.name, "unknown directive %s", quote(name))
	}
	narrows := narrowing[name] && !(ss == nil && name == "auth_backend") // a top-level auth_backend only defines one
	switch {
	case narrows && ss != nil:
		p.warn(st.name, "directive %s is not supported by slabcast: stream %s is not started rather than served to anyone", name, quote(ss.s.Name))
		ss.narrow = append(ss.narrow, fmt.Sprintf("%s (%s:%d:%d)", name, p.lx.file, st.name.pos.line, st.name.pos.col))
	case narrows:
		p.warn(st.name, "directive %s is not supported by slabcast: no stream is started rather than served to anyone", name)
		p.narrow = append(p.narrow, fmt.Sprintf("%s (%s:%d:%d)", name, p.lx.file, st.name.pos.line, st.name.pos.col))
	default:
		p.warn(st.name, "directive %s is not supported by slabcast; ignored", name)
	}
	end := st.term.end
	if st.term.kind == tokOpen {
		var err *Error
		if end, err = p.skipBlock(st); err != nil {
			return 0, err
		}
	}
	if ss != nil {
		ss.s.Extra = append(ss.s.Extra, p.lx.src[st.name.pos.off:end])
	}
	return end, nil
}

// skipBlock passes over the block of an ignored directive and returns the
// offset just after its closing brace.
func (p *parser) skipBlock(st stmt) (int, *Error) {
	depth := 1
	for {
		t, err := p.next()
		if err != nil {
			return 0, err
		}
		switch t.kind {
		case tokOpen:
			if depth++; depth > maxDepth {
				return 0, p.errAt(t, "blocks nested deeper than %d levels", maxDepth)
			}
		case tokClose:
			if depth--; depth == 0 {
				return t.end, nil
			}
		case tokEOF:
			return 0, p.unclosed(t, st)
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

// value returns the single value of a statement ended by ';'; a Flag may
// have none and is then true.
func (p *parser) value(st stmt, set *Setting) (token, *Error) {
	if st.term.kind == tokOpen {
		return token{}, p.errAt(st.term, "%s does not take a block", st.name.text)
	}
	if len(st.args) == 0 && set != nil && set.Kind == Flag {
		return token{kind: tokWord, text: "true", pos: st.term.pos, end: st.term.pos.off}, nil
	}
	if len(st.args) == 0 {
		return token{}, p.errAt(st.term, "%s: missing value", st.name.text)
	}
	if len(st.args) > 1 && set != nil && set.Kind == Words {
		words := make([]string, len(st.args))
		for i, a := range st.args {
			words[i] = a.text
		}
		t := st.args[0]
		t.text = strings.Join(words, " ")
		return t, nil
	}
	if len(st.args) > 1 {
		return token{}, p.errAt(st.args[1], "%s: unexpected value %s", st.name.text, quote(st.args[1].text))
	}
	return st.args[0], nil
}

// assign applies the one-value statement st of setting set, stored at ptr;
// seen holds where each setting of its block was set.
func (p *parser) assign(set *Setting, ptr any, st stmt, seen map[string]string) *Error {
	name := st.name.text
	if w := seen[name]; w != "" && !set.Repeat {
		return p.errAt(st.name, "%s is already set at %s", name, p.whereText(w))
	}
	v, err := p.value(st, set)
	if err != nil {
		return err
	}
	seen[name] = p.where(st.name)
	if msg := set.set(ptr, name, v.text); msg != "" {
		return p.errAt(v, "%s", msg)
	}
	return nil
}

func (p *parser) global(set *Setting, st stmt) *Error {
	if set.Kind == Listen && st.term.kind == tokOpen {
		return p.listener(set, st)
	}
	return p.assign(set, set.ptr(&p.cfg, nil, nil), st, p.globals)
}

// listener handles `http PORT { … }` (and rtmp, srt): api is honoured,
// other Flussonic listener options are skipped with a warning.
func (p *parser) listener(set *Setting, st stmt) *Error {
	open := st
	open.term = token{kind: tokSemi, pos: st.term.pos, end: st.term.end}
	if err := p.assign(set, set.ptr(&p.cfg, nil, nil), open, p.globals); err != nil {
		return err
	}
	ls := *set.ptr(&p.cfg, nil, nil).(*[]Listener)
	l := &ls[len(ls)-1]
	api := &Setting{Name: "api", Kind: Flag}
	seen := map[string]string{}
	for {
		d, done, err := p.directive(tokClose)
		switch {
		case err != nil:
			return err
		case done:
			return nil
		case d.term.kind == tokEOF:
			return p.unclosed(d.term, st)
		case d.name.text == "api":
			if err := p.assign(api, &l.API, d, seen); err != nil {
				return err
			}
		default:
			if _, err := p.other(d, nil); err != nil {
				return err
			}
		}
	}
}

// enforced reports whether statement st of a setting that narrows who may
// watch (on_play, drm) is one slabcast enforces: an http(s) on_play
// backend, drm aes128 with a key server. Any other form (on_play
// auth://NAME, drm of another system) is left to other, which keeps the
// stream, or every stream, from starting rather than serve it to anyone.
func enforced(set *Setting, st stmt) bool {
	if !narrowing[set.Name] {
		return true
	}
	if st.term.kind == tokOpen || len(st.args) == 0 {
		return true // assign says what is wrong
	}
	words := make([]string, len(st.args))
	for i, a := range st.args {
		words[i] = a.text
	}
	return set.Check == nil || set.Check(strings.Join(words, " ")) == ""
}

// auth handles `edit_auth USER PASSWORD;` and `view_auth USER PASSWORD;`,
// each given once.
func (p *parser) auth(st stmt) *Error {
	name := st.name.text
	if st.term.kind == tokOpen {
		return p.errAt(st.term, "%s does not take a block", name)
	}
	if len(st.args) != 2 {
		at := st.term
		if len(st.args) > 2 {
			at = st.args[2]
		}
		return p.errAt(at, "%s: want a user and a password: %s USER PASSWORD;", name, name)
	}
	if w := p.globals[name]; w != "" {
		return p.errAt(st.name, "%s is already set at %s", name, p.whereText(w))
	}
	for _, a := range st.args {
		if msg := checkText(a.text); msg != "" {
			return p.errAt(a, "%s: %s", name, msg)
		}
	}
	if strings.Contains(st.args[0].text, ":") {
		return p.errAt(st.args[0], "%s: a user name cannot hold ':' (HTTP Basic splits there)", name)
	}
	p.globals[name] = p.where(st.name)
	c := &Credentials{User: st.args[0].text, Password: st.args[1].text}
	if name == "edit_auth" {
		p.cfg.EditAuth = c
	} else {
		p.cfg.ViewAuth = c
	}
	return nil
}

// allowedFrom handles `api_allowed_from CIDR…;`: networks (10.0.0.0/8) or
// addresses, IPv4 or IPv6; lines add up.
func (p *parser) allowedFrom(st stmt) *Error {
	if st.term.kind == tokOpen {
		return p.errAt(st.term, "api_allowed_from does not take a block")
	}
	if st.extra != nil {
		return p.errAt(*st.extra, "api_allowed_from: more than %d networks", MaxNetworks)
	}
	if len(st.args) == 0 {
		return p.errAt(st.term, "api_allowed_from: missing value")
	}
	for _, a := range st.args {
		pr, err := netip.ParsePrefix(a.text)
		if err != nil {
			ad, aerr := netip.ParseAddr(a.text)
			if aerr != nil || ad.Zone() != "" {
				return p.errAt(a, "api_allowed_from: %s is not a network (10.0.0.0/8) or an address", quote(a.text))
			}
			pr = netip.PrefixFrom(ad, ad.BitLen())
		}
		if len(p.cfg.APIAllowedFrom) == MaxNetworks {
			return p.errAt(a, "api_allowed_from: more than %d networks", MaxNetworks)
		}
		p.cfg.APIAllowedFrom = append(p.cfg.APIAllowedFrom, pr.Masked())
	}
	return nil
}

// include reads the files PATTERN names (a glob, relative to the including
// file's directory), in name order. A pattern without glob characters must
// name a file; a glob may match none.
func (p *parser) include(st stmt) *Error {
	v, err := p.value(st, nil)
	if err != nil {
		return err
	}
	if p.opt.noInclude {
		return nil // the writer edits one file; the daemon reads the rest
	}
	if p.depth == maxIncludeDepth {
		return p.errAt(st.name, "include: more than %d levels of includes", maxIncludeDepth)
	}
	pattern := v.text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(p.lx.file), pattern)
	}
	matches, gerr := filepath.Glob(pattern)
	if gerr != nil {
		return p.errAt(v, "include: %s: %v", quote(v.text), gerr)
	}
	if len(matches) == 0 && !strings.ContainsAny(v.text, "*?[") {
		matches = []string{pattern} // reading it says what is wrong
	}
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			continue
		}
		if slices.Contains(p.cfg.Files, m) {
			continue // already read: an include loop, or a file named twice
		}
		p.depth++
		err := p.file(m, nil, &v)
		p.depth--
		if err != nil {
			return err.(*Error) // an included file's errors are all *Error
		}
	}
	return nil
}

// streamState is a stream being parsed.
type streamState struct {
	s       Stream
	seen    map[string]string // where each stream setting was set
	urls    map[string]int    // input URL -> line
	skipped []string          // inputs of schemes slabcast cannot read
	narrow  []string          // directives that narrow access, "on_play (f:3:1)"
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
	if w, dup := p.names[name]; dup {
		return p.errAt(nameTok, "stream %s is already defined at %s", quote(name), p.whereText(w))
	}
	if len(p.cfg.Streams) == MaxStreams {
		return p.errAt(st.name, "more than %d streams", MaxStreams)
	}
	p.names[name] = p.where(nameTok)
	ss := &streamState{
		s: Stream{
			Name:     name,
			OnDemand: kw == "ondemand",
			Live:     kw == "live",
			File:     p.lx.file,
			Line:     st.name.pos.line,
			Col:      st.name.pos.col,
			Span:     Span{Start: st.name.pos.off, End: st.term.end},
		},
		seen: map[string]string{},
		urls: map[string]int{},
	}
	if len(st.args) > 2 {
		return p.errAt(st.args[2], "%s %s: unexpected value %s; put stream options inside { }", kw, name, quote(st.args[2].text))
	}
	if len(st.args) == 2 {
		if err := p.input(ss, st.args[1], nil, ""); err != nil {
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
	switch {
	case len(s.Inputs) == 0 && len(ss.skipped) == 0 && !s.Live:
		return p.errAt(st.name, "stream %s has no input", quote(name))
	case len(ss.narrow) > 0:
		s.Problem = protectedBy(ss.narrow)
	case len(s.Inputs) == 0 && !s.Live:
		s.Problem = "no input slabcast can read yet: " + strings.Join(ss.skipped, ", ")
	}
	fillDefaults(s, func(set *Setting) bool { return ss.seen[set.Name] == "" }, func(in *Input, set *Setting) bool {
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
		if err := p.used(st); err != nil {
			return err
		}
		return p.input(ss, st.args[0], st.args[1:], p.lx.src[st.name.pos.off:st.term.end])
	case "stream", "ondemand", "live":
		return p.errAt(st.name, "%s is not allowed inside a stream block; is a '}' missing before it?", name)
	case "include":
		return p.errAt(st.name, "include is only allowed at the top level, not inside a stream block")
	}
	if set := Lookup(PerStream, name); set != nil && enforced(set, st) {
		return p.assign(set, set.ptr(nil, &ss.s, nil), st, ss.seen)
	}
	if Lookup(Global, name) != nil && !narrowing[name] {
		return p.errAt(st.name, "%s is not allowed inside a stream block", name)
	}
	_, err := p.other(st, ss)
	return err
}

// input adds the input at u with its key=value options. An input of a
// scheme slabcast cannot read yet is skipped with a warning and kept as
// written (raw, the whole statement; "" for the one-line stream form).
func (p *parser) input(ss *streamState, u token, opts []token, raw string) *Error {
	if line, dup := ss.urls[u.text]; dup {
		return p.errAt(u, "input %s is already listed at line %d", quote(u.text), line)
	}
	ss.urls[u.text] = u.pos.line
	if scheme, _, ok := strings.Cut(u.text, "://"); ok && !ReadsScheme(scheme) {
		p.warn(u, "input %s: %s:// is not supported by slabcast yet; input skipped", quote(u.text), scheme)
		if raw == "" {
			raw = "input " + string(appendValue(nil, u.text)) + ";"
		}
		ss.s.Extra = append(ss.s.Extra, raw)
		ss.skipped = append(ss.skipped, u.text)
		return nil
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
	in := Input{URL: u.text}
	var seen []*Setting
	var extra []string
	for _, o := range opts {
		k, v, ok := strings.Cut(o.text, "=")
		set := Lookup(PerInput, k)
		switch {
		case set == nil && knownName(k):
			p.warn(o, "input: option %s is not supported by slabcast; ignored", k)
			extra = append(extra, p.lx.src[o.pos.off:o.end])
			continue
		case !ok:
			return p.errAt(o, "input: %s is not a key=value option", quote(o.text))
		case set == nil:
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
	in.Extra = strings.Join(extra, " ")
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
	if !ReadsScheme(u.Scheme) {
		return errors.New("config: only udp://, rtp://, tshttp://, hls://, rtsp://, srt:// and rtmp:// inputs are supported")
	}
	if strings.EqualFold(u.Scheme, "publish") {
		return nil // publish:// names no host: the publisher comes to us
	}
	if s := strings.ToLower(u.Scheme); s == "tshttp" || s == "http" || s == "hls" || s == "rtsp" || s == "rtmp" {
		if u.Opaque != "" || u.Hostname() == "" {
			return fmt.Errorf("config: expected %s://HOST[:PORT]/PATH", u.Scheme)
		}
		return nil
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
