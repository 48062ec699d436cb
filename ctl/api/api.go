// Package api is slabcast's HTTP API: the subset of Flussonic Media
// Server's API v3 (/streamer/api/v3) that scripts and the web console use to
// list, read, create, change and delete streams.
//
// A change takes the control socket's path (ctl.Backend): it is validated
// as the config parser would, written to the config file atomically, then
// applied, so the file, the socket, the API and the console always agree.
// Access follows the config: edit_auth may read and change, view_auth may
// only read, api_allowed_from limits the client addresses; without
// credentials every request is answered 401. The answers' shapes, errors
// included ({"errors":[{"status","code","title","source":{"pointer"}}]}),
// are Flussonic's; schema.json describes every route and is served at
// /streamer/api/v3/schema.
package api

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
)

// Prefix is where the API is mounted.
const Prefix = "/streamer/api/v3/"

// MaxBody bounds a request body: a stream with config.MaxValues inputs and
// every option fits many times over.
const MaxBody = 64 << 10

// Backend is what the daemon provides: its running config and the control
// socket's operations. Safe for concurrent use.
type Backend interface {
	ctl.Backend
	// Config is the running config; the caller does not change it.
	Config() *config.Config
}

// Handler answers the API's requests.
type Handler struct {
	b    Backend
	opt  config.Options
	logf func(string, ...any)
	now  func() time.Time
	mu   sync.Mutex // one change at a time: a PUT's read, merge and write

	lists listCache // recent list answers
}

// New returns a handler that serves b, checking streams with opt (the
// Options the daemon parses its file with). logf gets one line per change
// made (who, what), never credentials.
func New(b Backend, opt config.Options, logf func(string, ...any)) *Handler {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Handler{b: b, opt: opt, logf: logf, now: time.Now}
}

//go:embed schema.json
var schema []byte

// Schema is the OpenAPI 3 description of the API, as served.
func Schema() []byte { return schema }

// Access is what a request may do.
type Access int

const (
	None Access = iota
	View        // read
	Edit        // read and change
)

// Authorize says what the request in ctx may do under cfg's edit_auth,
// view_auth and api_allowed_from, and, when nothing, the error to answer
// (401 asks for credentials, 403 refuses an address). Basic credentials
// and Bearer tokens (base64 of user:password, as Flussonic takes them) are
// both read; the comparison takes the same time whatever matches.
func Authorize(ctx *fasthttp.RequestCtx, cfg *config.Config) (Access, *Error) {
	if len(cfg.APIAllowedFrom) > 0 {
		a, _ := netip.AddrFromSlice(ctx.RemoteIP())
		a = a.Unmap()
		ok := false
		for _, p := range cfg.APIAllowedFrom {
			if p.Contains(a) {
				ok = true
				break
			}
		}
		if !ok {
			return None, &Error{Status: 403, Code: "forbidden_address", Title: "this address is not in api_allowed_from"}
		}
	}
	if cfg.EditAuth == nil && cfg.ViewAuth == nil {
		return None, &Error{Status: 401, Code: "auth_not_configured",
			Title: "the API and the console are closed: the config has no edit_auth or view_auth"}
	}
	user, pass, ok := credentials(ctx.Request.Header.Peek("Authorization"))
	if !ok {
		return None, &Error{Status: 401, Code: "unauthorized", Title: "credentials required"}
	}
	edit := matches(cfg.EditAuth, user, pass)
	view := matches(cfg.ViewAuth, user, pass)
	switch {
	case edit:
		return Edit, nil
	case view:
		return View, nil
	}
	return None, &Error{Status: 401, Code: "unauthorized", Title: "wrong user or password"}
}

// credentials reads "Basic B64" or "Bearer B64", B64 holding user:password.
func credentials(h []byte) (user, pass []byte, ok bool) {
	scheme, rest, found := bytes.Cut(h, []byte(" "))
	if !found || !(bytes.EqualFold(scheme, []byte("Basic")) || bytes.EqualFold(scheme, []byte("Bearer"))) {
		return nil, nil, false
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(rest)))
	if err != nil {
		return nil, nil, false
	}
	user, pass, ok = bytes.Cut(raw, []byte(":"))
	return user, pass, ok
}

// matches compares in constant time (for equal lengths; subtle's rule).
func matches(c *config.Credentials, user, pass []byte) bool {
	if c == nil {
		return false
	}
	u := subtle.ConstantTimeCompare(user, []byte(c.User))
	p := subtle.ConstantTimeCompare(pass, []byte(c.Password))
	return u&p == 1
}

// Error is one error of an answer, in Flussonic's shape.
type Error struct {
	Status  int    // HTTP status
	Code    string // a word a script can test
	Title   string // for people
	Pointer string // JSON pointer into the request body ("/inputs/0/url"); "" for none
}

func (e *Error) Error() string { return e.Title }

// WriteError answers e (a 401 with a Basic challenge).
func WriteError(ctx *fasthttp.RequestCtx, e *Error) {
	type source struct {
		Pointer string `json:"pointer"`
	}
	type item struct {
		Status string  `json:"status"`
		Code   string  `json:"code"`
		Title  string  `json:"title"`
		Source *source `json:"source,omitempty"`
	}
	it := item{Status: strconv.Itoa(e.Status), Code: e.Code, Title: e.Title}
	if e.Pointer != "" {
		it.Source = &source{Pointer: e.Pointer}
	}
	if e.Status == 401 {
		ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="slabcast", charset="UTF-8"`)
	}
	writeJSON(ctx, e.Status, map[string][]item{"errors": {it}})
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	var b []byte
	var err error
	if o, ok := v.(object); ok {
		b, err = o.appendJSON(make([]byte, 0, 4096))
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		status, b = 500, []byte(`{"errors":[{"status":"500","code":"internal","title":"cannot encode the answer"}]}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(append(b, '\n'))
}

// ServeHTTP answers one request under Prefix.
func (h *Handler) ServeHTTP(ctx *fasthttp.RequestCtx) {
	cfg := h.b.Config()
	path := string(ctx.Path())
	rest, under := strings.CutPrefix(path, Prefix)
	if !under {
		WriteError(ctx, &Error{Status: 404, Code: "not_found", Title: "no such API route"})
		return
	}
	access, aerr := Authorize(ctx, cfg)
	if aerr != nil {
		WriteError(ctx, aerr)
		return
	}
	method := string(ctx.Method())
	read := method == fasthttp.MethodGet || method == fasthttp.MethodHead
	switch {
	case rest == "streams":
		if !h.allow(ctx, read, "GET, HEAD") {
			return
		}
		h.list(ctx, cfg, access)
	case strings.HasPrefix(rest, "streams/"):
		name := rest[len("streams/"):]
		switch method {
		case fasthttp.MethodGet, fasthttp.MethodHead:
			h.get(ctx, cfg, name, access)
		case fasthttp.MethodPut:
			if h.mayEdit(ctx, access) {
				h.put(ctx, name)
			}
		case fasthttp.MethodDelete:
			if h.mayEdit(ctx, access) {
				h.delete(ctx, name)
			}
		default:
			h.allow(ctx, false, "GET, HEAD, PUT, DELETE")
		}
	case rest == "config":
		if h.allow(ctx, read, "GET, HEAD") {
			h.config(ctx, cfg)
		}
	case rest == "schema":
		if h.allow(ctx, read, "GET, HEAD") {
			ctx.SetStatusCode(200)
			ctx.SetContentType("application/json")
			ctx.SetBody(schema)
		}
	default:
		WriteError(ctx, &Error{Status: 404, Code: "not_found", Title: "no such API route"})
	}
}

// allow answers 405 unless ok.
func (h *Handler) allow(ctx *fasthttp.RequestCtx, ok bool, methods string) bool {
	if !ok {
		ctx.Response.Header.Set("Allow", methods)
		WriteError(ctx, &Error{Status: 405, Code: "method_not_allowed", Title: "method not allowed here; allowed: " + methods})
	}
	return ok
}

func (h *Handler) mayEdit(ctx *fasthttp.RequestCtx, a Access) bool {
	if a != Edit {
		WriteError(ctx, &Error{Status: 403, Code: "forbidden", Title: "view_auth may only read; changes need edit_auth"})
		return false
	}
	return true
}

// body reads the request body, at most MaxBody bytes.
func body(ctx *fasthttp.RequestCtx) ([]byte, *Error) {
	tooLarge := &Error{Status: 413, Code: "too_large", Title: "request body over " + strconv.Itoa(MaxBody) + " bytes"}
	if ctx.Request.Header.ContentLength() > MaxBody {
		return nil, tooLarge
	}
	if r := ctx.RequestBodyStream(); r != nil {
		b, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
		if err != nil {
			return nil, &Error{Status: 400, Code: "bad_body", Title: "cannot read the request body"}
		}
		if len(b) > MaxBody {
			return nil, tooLarge
		}
		return b, nil
	}
	if b := ctx.PostBody(); len(b) <= MaxBody {
		return b, nil
	}
	return nil, tooLarge
}

// peer names the client in log lines.
func peer(ctx *fasthttp.RequestCtx) string {
	if a, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		return a.Unmap().String()
	}
	return "?"
}
