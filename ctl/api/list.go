package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
)

// Limits of a list request.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// listParams are the query parameters list reads itself; any other is a
// filter on the field it names (static=false, stats.status=running).
var listParams = map[string]bool{"limit": true, "cursor": true, "select": true, "sort": true, "q": true, "format": true}

// list answers GET /streams: every stream, filtered, sorted and cut to a
// page, as {"estimated_count","next","prev","streams"}. The cursors are
// opaque to clients: a position in the sorted, filtered list.
func (h *Handler) list(ctx *fasthttp.RequestCtx, cfg *config.Config, a Access) {
	// Consoles poll the list every few seconds, each with the same query:
	// one answer a second serves them all (a change made through the API
	// clears it at once).
	key := strconv.Itoa(int(a)) + "?" + string(ctx.QueryArgs().QueryString())
	if body, ctype, ok := h.lists.get(key, h.now()); ok {
		ctx.SetStatusCode(200)
		ctx.SetContentType(ctype)
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.SetBodyRaw(body)
		return
	}
	h.render(ctx, cfg, a)
	if ctx.Response.StatusCode() == 200 {
		h.lists.put(key, append([]byte(nil), ctx.Response.Body()...), string(ctx.Response.Header.ContentType()), h.now())
	}
}

// listTTL is how long a list answer is served again.
const listTTL = time.Second

// listCache keeps recent list answers by access and query.
type listCache struct {
	mu sync.Mutex
	m  map[string]cachedList
}

type cachedList struct {
	body  []byte
	ctype string
	at    time.Time
}

func (c *listCache) get(key string, now time.Time) ([]byte, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= listTTL || now.Before(e.at) {
		return nil, "", false
	}
	return e.body, e.ctype, true
}

func (c *listCache) put(key string, body []byte, ctype string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 64 {
		c.m = map[string]cachedList{} // queries are few; a flood of odd ones only empties it
	}
	c.m[key] = cachedList{body, ctype, now}
}

func (c *listCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// render answers a list request afresh.
func (h *Handler) render(ctx *fasthttp.RequestCtx, cfg *config.Config, a Access) {
	args := ctx.QueryArgs()
	bad := func(param, title string) {
		WriteError(ctx, &Error{Status: 400, Code: "bad_parameter", Title: param + ": " + title})
	}
	limit := DefaultLimit
	if v := args.Peek("limit"); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > MaxLimit {
			bad("limit", fmt.Sprintf("want a whole number 1..%d", MaxLimit))
			return
		}
		limit = n
	}
	offset := 0
	if v := args.Peek("cursor"); len(v) > 0 {
		n, ok := decodeCursor(string(v))
		if !ok {
			bad("cursor", "not a cursor this server gave")
			return
		}
		offset = n
	}
	var sortKeys []string
	if v := args.Peek("sort"); len(v) > 0 {
		sortKeys = strings.Split(string(v), ",")
	}
	var selected []string
	if v := args.Peek("select"); len(v) > 0 {
		selected = strings.Split(string(v), ",")
	}
	q := strings.ToLower(string(args.Peek("q")))
	type filter struct{ path, want string }
	var filters []filter
	args.VisitAll(func(k, v []byte) {
		if !listParams[string(k)] {
			filters = append(filters, filter{string(k), string(v)})
		}
	})

	states := h.states()
	now := h.now()
	objs := make([]object, 0, len(cfg.Streams))
	for i, s := range cfg.Streams {
		if i%16 == 15 {
			// A daemon with `cpus 1;` runs Go on one P: let the HLS
			// requests that came meanwhile go first, rather than wait
			// out the whole answer.
			runtime.Gosched()
		}
		if q != "" && !matchesQuery(s, q) {
			continue
		}
		o := streamObject(s, states[s.Name], a, now)
		keep := true
		for _, f := range filters {
			if text(lookup(o, f.path)) != f.want {
				keep = false
				break
			}
		}
		if keep {
			objs = append(objs, o)
		}
	}
	if len(sortKeys) > 0 {
		slices.SortStableFunc(objs, func(x, y object) int {
			for _, k := range sortKeys {
				desc := strings.HasPrefix(k, "-")
				k = strings.TrimPrefix(k, "-")
				c := compare(lookup(x, k), lookup(y, k))
				if desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	switch f := string(args.Peek("format")); f {
	case "", "json":
	case "openmetrics":
		writeOpenMetrics(ctx, objs)
		return
	default:
		bad("format", strconv.Quote(f)+" is not json or openmetrics")
		return
	}
	total := len(objs)
	page := objs[min(offset, total):min(offset+limit, total)]
	if len(selected) > 0 {
		for i, o := range page {
			page[i] = pick(o, selected)
		}
	}
	var next, prev any
	if offset+limit < total {
		next = encodeCursor(offset + limit)
	}
	if offset > 0 {
		prev = encodeCursor(max(0, offset-limit))
	}
	if page == nil {
		page = []object{}
	}
	writeJSON(ctx, 200, object{{"estimated_count", total}, {"next", next}, {"prev", prev}, {"streams", page}})
}

// matchesQuery: q (lower case) is in the stream's name or an input URL.
func matchesQuery(s config.Stream, q string) bool {
	if strings.Contains(strings.ToLower(s.Name), q) {
		return true
	}
	for _, in := range s.Inputs {
		if strings.Contains(strings.ToLower(in.URL), q) {
			return true
		}
	}
	return false
}

func encodeCursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("pos:" + strconv.Itoa(n)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "pos:")
	n, err := strconv.Atoi(s)
	return n, ok && err == nil && n >= 0
}

// lookup returns the value at a dotted path ("stats.bitrate"), nil if none.
func lookup(o object, path string) any {
	var v any = o
	for _, k := range strings.Split(path, ".") {
		obj, ok := v.(object)
		if !ok {
			return nil
		}
		v = obj.get(k)
	}
	return v
}

// pick keeps the top-level keys named (a dotted name keeps its first part).
func pick(o object, keys []string) object {
	var out object
	for _, f := range o {
		for _, k := range keys {
			top, _, _ := strings.Cut(k, ".")
			if f.k == top {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// text is a value as a query parameter would give it.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.RawMessage:
		return string(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case json.RawMessage:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	}
	return 0, false
}

// compare orders numbers as numbers and everything else as text; a missing
// value comes first.
func compare(x, y any) int {
	if a, ok := number(x); ok {
		if b, ok := number(y); ok {
			return cmp.Compare(a, b)
		}
	}
	return strings.Compare(text(x), text(y))
}

// openMetrics are the stats the openmetrics format gives, each a family
// named stream_KEY with the stream's name as its label: the figures a
// Flussonic exporter scrapes (bitrate, alive, retries, error rate,
// clients), under the API's own names.
var openMetrics = []struct{ key, family, typ, help string }{
	{"alive", "stream_alive", "gauge", "1 while data arrives within source_timeout"},
	{"bitrate", "stream_bitrate", "gauge", "input bitrate, kbit/s"},
	{"bytes_in", "stream_bytes_in", "counter", "bytes received since the stream started"},
	{"online_clients", "stream_online_clients", "gauge", "viewers now"},
	{"retry_count", "stream_retry_count", "counter", "input errors, each followed by a retry"},
	{"input_error_rate", "stream_input_error_rate", "gauge", "share of TS packets lost or bad"},
	{"cc_errors", "stream_cc_errors", "counter", "continuity counter errors (TR 101 290 1.4)"},
	{"lifetime", "stream_lifetime_milliseconds", "gauge", "time since the stream started"},
}

// writeOpenMetrics answers objs' stats in the OpenMetrics text format.
func writeOpenMetrics(ctx *fasthttp.RequestCtx, objs []object) {
	var b strings.Builder
	for _, m := range openMetrics {
		fmt.Fprintf(&b, "# TYPE %s %s\n# HELP %s %s\n", m.family, m.typ, m.family, m.help)
		suffix := ""
		if m.typ == "counter" {
			suffix = "_total"
		}
		for _, o := range objs {
			v := lookup(o, "stats."+m.key)
			if v == nil {
				continue
			}
			val := text(v)
			if bv, ok := v.(bool); ok {
				val = "0"
				if bv {
					val = "1"
				}
			}
			name, _ := o.get("name").(string)
			fmt.Fprintf(&b, "%s%s{name=%s} %s\n", m.family, suffix, strconv.Quote(name), val)
		}
	}
	b.WriteString("# EOF\n")
	ctx.SetStatusCode(200)
	ctx.SetContentType("application/openmetrics-text; version=1.0.0; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBodyString(b.String())
}
