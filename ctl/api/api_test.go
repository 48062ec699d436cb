package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
)

// fakeBackend keeps a config in memory, as the daemon would after writing
// its file: every change replaces the Config, which is never modified.
type fakeBackend struct {
	mu      sync.Mutex
	cfg     *config.Config
	stats   map[string]ctl.StreamStats // running streams
	changes int
	delay   time.Duration // how long Update takes, as writing a file does
}

func newFake(t testing.TB, src string) *fakeBackend {
	t.Helper()
	cfg, err := config.Parse("test.conf", []byte(src), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeBackend{cfg: cfg, stats: map[string]ctl.StreamStats{}}
}

func (f *fakeBackend) Config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

func (f *fakeBackend) status(s config.Stream) ctl.StreamStatus {
	st := ctl.StreamStatus{Name: s.Name, Type: ctl.TypeStatic, Status: ctl.StatusDown}
	if s.OnDemand {
		st.Type, st.Status = ctl.TypeOnDemand, ctl.StatusWaiting
	}
	if s.Disabled {
		st.Status = ctl.StatusDisabled
	}
	if x, ok := f.stats[s.Name]; ok {
		st.Status, st.ActiveInput = x.Status, x.ActiveInput
	}
	for _, in := range s.Inputs {
		st.Inputs = append(st.Inputs, in.URL)
	}
	return st
}

func (f *fakeBackend) List() []ctl.StreamStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ctl.StreamStatus
	for _, s := range f.cfg.Streams {
		out = append(out, f.status(s))
	}
	return out
}

func (f *fakeBackend) Show(name string) (config.Stream, ctl.StreamStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.cfg.Stream(name)
	if !ok {
		return s, ctl.StreamStatus{}, fmt.Errorf("no stream %q", name)
	}
	return s, f.status(s), nil
}

func (f *fakeBackend) replace(streams []config.Stream) {
	c := *f.cfg
	c.Streams = streams
	f.cfg = &c
	f.changes++
}

func (f *fakeBackend) Add(s config.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cfg.Stream(s.Name); ok {
		return fmt.Errorf("stream %q already exists", s.Name)
	}
	f.replace(append(slices.Clone(f.cfg.Streams), s))
	return nil
}

func (f *fakeBackend) Update(s config.Stream) error {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	list := slices.Clone(f.cfg.Streams)
	for i := range list {
		if list[i].Name == s.Name {
			list[i] = s
			f.replace(list)
			return nil
		}
	}
	return fmt.Errorf("no stream %q", s.Name)
}

func (f *fakeBackend) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(f.cfg.Streams), func(s config.Stream) bool { return s.Name == name })
	f.replace(list)
	return nil
}

func (f *fakeBackend) Stats(name string) ([]ctl.StreamStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ctl.StreamStats
	for _, s := range f.cfg.Streams {
		if x, ok := f.stats[s.Name]; ok && (name == "" || name == s.Name) {
			x.StreamStatus = f.status(s)
			out = append(out, x)
		}
	}
	return out, nil
}

func (f *fakeBackend) Reload() (config.Change, error) { return config.Change{}, nil }

const testConf = `
edit_auth admin s3cret;
view_auth viewer look;
stream alpha { input udp://239.0.0.1:1234; }
stream beta { input udp://239.0.0.2:1234 priority=1; input udp://239.0.0.3:1234 priority=2; segment_count 8; }
ondemand gamma { input udp://239.0.0.4:1234; clients_timeout 30; }
stream delta { input rtsp://cam:pw@10.0.0.9/live; disabled; }
live omega { password pub; }
`

// fixture is a handler over a fake backend with three of its streams
// running at different bitrates.
func fixture(t testing.TB) (*Handler, *fakeBackend) {
	t.Helper()
	f := newFake(t, testConf)
	now := time.Unix(1_800_000_000, 0)
	run := func(name string, bitrate uint64, active string) {
		f.stats[name] = ctl.StreamStats{
			StreamStatus:  ctl.StreamStatus{Name: name, Status: ctl.StatusRunning, ActiveInput: active},
			UptimeSeconds: 12.5, BitrateBps: bitrate, Clients: 3, LastData: now.Add(-40 * time.Millisecond),
			Counters: []ctl.Count{{Name: "bytes_in", N: 1000}, {Name: "packets_in", N: 990}, {Name: "ts_lost", N: 10}},
			TSErrors: map[string]uint64{"Continuity_count_error": 2},
			PIDs:     []ctl.PIDStats{{PID: 256, Codec: "h264", Width: 1280, Height: 720}, {PID: 257, Codec: "aac"}},
		}
	}
	run("alpha", 4_000_000, "udp://239.0.0.1:1234")
	run("beta", 9_000_000, "udp://239.0.0.3:1234")
	h := New(f, config.Options{}, nil)
	h.now = func() time.Time { return now }
	return h, f
}

var (
	editAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret"))
	viewAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("viewer:look"))
)

type answer struct {
	code int
	body []byte
	hdr  *fasthttp.ResponseHeader
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", a.code, err, a.body)
	}
	return m
}

// errorAt checks the answer is one error of Flussonic's shape with the
// status and pointer given, and returns its code.
func (a answer) errorAt(t testing.TB, status int, pointer string) string {
	t.Helper()
	if a.code != status {
		t.Fatalf("status %d, want %d: %s", a.code, status, a.body)
	}
	var e struct {
		Errors []struct {
			Status, Code, Title string
			Source              *struct{ Pointer string }
		}
	}
	if err := json.Unmarshal(a.body, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("not an errors answer: %s", a.body)
	}
	x := e.Errors[0]
	got := ""
	if x.Source != nil {
		got = x.Source.Pointer
	}
	if x.Status != fmt.Sprint(status) || x.Code == "" || x.Title == "" || got != pointer {
		t.Fatalf("error %+v (pointer %q), want status %d pointer %q", x, got, status, pointer)
	}
	return x.Code
}

func do(h *Handler, method, uri, auth, body string) answer {
	return doFrom(h, method, uri, auth, body, "127.0.0.1")
}

func doFrom(h *Handler, method, uri, auth, body, ip string) answer {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.SetBodyString(body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 5555}, nil)
	h.ServeHTTP(&ctx)
	var hdr fasthttp.ResponseHeader
	ctx.Response.Header.CopyTo(&hdr)
	return answer{ctx.Response.StatusCode(), append([]byte(nil), ctx.Response.Body()...), &hdr}
}

const base = "/streamer/api/v3"

func TestAuth(t *testing.T) {
	h, f := fixture(t)
	bearer := "Bearer " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret"))
	for _, c := range []struct {
		name, auth string
		want       int
		code       string
	}{
		{"none", "", 401, "unauthorized"},
		{"wrong password", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:nope")), 401, "unauthorized"},
		{"password of the other user", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:look")), 401, "unauthorized"},
		{"not base64", "Basic !!!", 401, "unauthorized"},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin")), 401, "unauthorized"},
		{"other scheme", "Digest x", 401, "unauthorized"},
		{"edit", editAuth, 200, ""},
		{"view", viewAuth, 200, ""},
		{"bearer", bearer, 200, ""},
	} {
		a := do(h, "GET", base+"/streams", c.auth, "")
		if c.want == 200 {
			if a.code != 200 {
				t.Errorf("%s: %d %s", c.name, a.code, a.body)
			}
			continue
		}
		if code := a.errorAt(t, c.want, ""); code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, code, c.code)
		}
		if !strings.HasPrefix(string(a.hdr.Peek("WWW-Authenticate")), `Basic realm="slabcast"`) {
			t.Errorf("%s: WWW-Authenticate %q", c.name, a.hdr.Peek("WWW-Authenticate"))
		}
	}
	// view_auth reads but does not change, and does not see secrets.
	do(h, "PUT", base+"/streams/alpha", viewAuth, `{"segment_count":7}`).errorAt(t, 403, "")
	do(h, "DELETE", base+"/streams/alpha", viewAuth, "").errorAt(t, 403, "")
	if f.changes != 0 {
		t.Fatalf("view_auth changed the config")
	}
	if b := do(h, "GET", base+"/streams/delta", viewAuth, "").body; strings.Contains(string(b), "pw@") {
		t.Errorf("view_auth sees an input's password: %s", b)
	}
	if b := do(h, "GET", base+"/streams/omega", viewAuth, "").body; strings.Contains(string(b), `"password"`) {
		t.Errorf("view_auth sees a stream's password: %s", b)
	}
	if b := do(h, "GET", base+"/streams/omega", editAuth, "").body; !strings.Contains(string(b), `"password":"pub"`) {
		t.Errorf("edit_auth does not see the password: %s", b)
	}

	// api_allowed_from: other addresses are refused whatever they send.
	f.cfg.APIAllowedFrom = append(f.cfg.APIAllowedFrom, mustPrefix("10.1.0.0/16"), mustPrefix("::1/128"))
	if a := doFrom(h, "GET", base+"/streams", editAuth, "", "10.1.2.3"); a.code != 200 {
		t.Errorf("allowed address: %d", a.code)
	}
	if a := doFrom(h, "GET", base+"/streams", editAuth, "", "::1"); a.code != 200 {
		t.Errorf("allowed IPv6 address: %d", a.code)
	}
	doFrom(h, "GET", base+"/streams", editAuth, "", "10.2.0.1").errorAt(t, 403, "")

	// No credentials configured: closed.
	f2 := newFake(t, "stream a { input udp://239.0.0.1:1; }")
	h2 := New(f2, config.Options{}, nil)
	if code := do(h2, "GET", base+"/streams", editAuth, "").errorAt(t, 401, ""); code != "auth_not_configured" {
		t.Errorf("without edit_auth: code %q", code)
	}
}

func TestGet(t *testing.T) {
	h, _ := fixture(t)
	m := do(h, "GET", base+"/streams/beta", editAuth, "").json(t)
	want := map[string]any{"name": "beta", "static": true, "segment_count": 8.0, "segment_duration": 2000.0, "source_timeout": 10.0}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	ins := m["inputs"].([]any)
	if len(ins) != 2 || ins[0].(map[string]any)["priority"] != 1.0 {
		t.Fatalf("inputs %v", ins)
	}
	if a0, a1 := ins[0].(map[string]any)["stats"].(map[string]any)["active"], ins[1].(map[string]any)["stats"].(map[string]any)["active"]; a0 != false || a1 != true {
		t.Errorf("active inputs %v %v, want false true", a0, a1)
	}
	st := m["stats"].(map[string]any)
	for k, v := range map[string]any{"status": "running", "alive": true, "bitrate": 9000.0, "bytes_in": 1000.0, "online_clients": 3.0,
		"lifetime": 12500.0, "ts_delay": 40.0, "cc_errors": 2.0, "lost_packets": 10.0, "input_error_rate": 0.01} {
		if st[k] != v {
			t.Errorf("stats.%s = %v, want %v", k, st[k], v)
		}
	}
	urls := st["playback_urls"].(map[string]any)
	for k, v := range map[string]string{"hls": "/beta/index.m3u8", "hls_fmp4": "/beta/index.fmp4.m3u8", "ll_hls": "/beta/index.ll.m3u8",
		"dash": "/beta/index.mpd", "mpegts": "/beta/mpegts"} {
		if urls[k] != v {
			t.Errorf("stats.playback_urls.%s = %v, want %s", k, urls[k], v)
		}
	}
	tr := st["media_info"].(map[string]any)["tracks"].([]any)
	if len(tr) != 2 || tr[0].(map[string]any)["content"] != "video" || tr[0].(map[string]any)["width"] != 1280.0 ||
		tr[0].(map[string]any)["height"] != 720.0 || tr[1].(map[string]any)["codec"] != "aac" || tr[1].(map[string]any)["width"] != nil {
		t.Errorf("tracks %v", tr)
	}
	for name, status := range map[string]string{"gamma": "waiting", "delta": "stopped", "alpha": "running"} {
		if got := do(h, "GET", base+"/streams/"+name, editAuth, "").json(t)["stats"].(map[string]any)["status"]; got != status {
			t.Errorf("%s: status %v, want %s", name, got, status)
		}
	}
	if m := do(h, "GET", base+"/streams/gamma", editAuth, "").json(t); m["static"] != false || m["clients_timeout"] != 30.0 {
		t.Errorf("gamma: %v", m)
	}
	if ins := do(h, "GET", base+"/streams/omega", editAuth, "").json(t)["inputs"].([]any); len(ins) != 1 || ins[0].(map[string]any)["url"] != PublishURL {
		t.Errorf("live stream inputs %v, want publish://", ins)
	}
	do(h, "GET", base+"/streams/nosuch", editAuth, "").errorAt(t, 404, "")
	do(h, "GET", base+"/nosuch", editAuth, "").errorAt(t, 404, "")
	if a := do(h, "POST", base+"/streams", editAuth, "{}"); a.code != 405 || string(a.hdr.Peek("Allow")) != "GET, HEAD" {
		t.Errorf("POST /streams: %d, Allow %q", a.code, a.hdr.Peek("Allow"))
	}
}

func names(t testing.TB, m map[string]any) []string {
	t.Helper()
	var out []string
	for _, s := range m["streams"].([]any) {
		out = append(out, s.(map[string]any)["name"].(string))
	}
	return out
}

func TestList(t *testing.T) {
	h, _ := fixture(t)
	get := func(q string) map[string]any {
		t.Helper()
		return do(h, "GET", base+"/streams"+q, viewAuth, "").json(t)
	}
	m := get("")
	if got := names(t, m); !slices.Equal(got, []string{"alpha", "beta", "gamma", "delta", "omega"}) || m["estimated_count"] != 5.0 || m["next"] != nil || m["prev"] != nil {
		t.Errorf("all: %v %v", got, m)
	}
	if got := names(t, get("?sort=-stats.bitrate,name")); !slices.Equal(got, []string{"beta", "alpha", "delta", "gamma", "omega"}) {
		t.Errorf("sort=-stats.bitrate,name: %v", got)
	}
	if got := names(t, get("?sort=-name")); !slices.Equal(got, []string{"omega", "gamma", "delta", "beta", "alpha"}) {
		t.Errorf("sort=-name: %v", got)
	}
	if got := names(t, get("?static=false")); !slices.Equal(got, []string{"gamma"}) {
		t.Errorf("static=false: %v", got)
	}
	if got := names(t, get("?stats.status=running")); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("stats.status=running: %v", got)
	}
	if got := names(t, get("?q=239.0.0.3")); !slices.Equal(got, []string{"beta"}) {
		t.Errorf("q by input URL: %v", got)
	}
	if got := names(t, get("?q=ALP")); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("q by name: %v", got)
	}
	// select keeps only the keys asked for.
	for _, s := range get("?select=name,stats.bitrate")["streams"].([]any) {
		if o := s.(map[string]any); len(o) != 2 || o["stats"] == nil {
			t.Errorf("select=name,stats: %v", o)
		}
	}
	// Pages of two, forward by next and back by prev.
	var seen []string
	q := "?limit=2"
	var pages []map[string]any
	for i := 0; i < 5; i++ {
		p := get(q)
		pages = append(pages, p)
		seen = append(seen, names(t, p)...)
		if p["estimated_count"] != 5.0 {
			t.Errorf("page %d: estimated_count %v", i, p["estimated_count"])
		}
		next, _ := p["next"].(string)
		if next == "" {
			break
		}
		q = "?limit=2&cursor=" + next
	}
	if !slices.Equal(seen, []string{"alpha", "beta", "gamma", "delta", "omega"}) || len(pages) != 3 {
		t.Fatalf("paged: %v in %d pages", seen, len(pages))
	}
	back := get("?limit=2&cursor=" + pages[2]["prev"].(string))
	if !slices.Equal(names(t, back), []string{"gamma", "delta"}) {
		t.Errorf("prev of the last page: %v", names(t, back))
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?cursor=@@", "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("pos:-1"))} {
		do(h, "GET", base+"/streams"+q, viewAuth, "").errorAt(t, 400, "")
	}
}

func TestPut(t *testing.T) {
	h, f := fixture(t)
	put := func(name, body string) answer { return do(h, "PUT", base+"/streams/"+name, editAuth, body) }

	// Create.
	a := put("news", `{"inputs":[{"url":"udp://239.1.1.1:5000","priority":2}],"static":false,"segment_duration":3000}`)
	if a.code != 200 {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	s, ok := f.Config().Stream("news")
	if !ok || !s.OnDemand || s.SegmentDuration != 3*time.Second || len(s.Inputs) != 1 || s.Inputs[0].Priority != 2 {
		t.Fatalf("created %+v", s)
	}
	if m := a.json(t); m["segment_duration"] != 3000.0 || m["stats"] == nil {
		t.Errorf("answer %v", m)
	}
	// Merge: keys not given stay.
	if a := put("news", `{"segment_count":9}`); a.code != 200 {
		t.Fatalf("merge: %s", a.body)
	}
	s, _ = f.Config().Stream("news")
	if s.SegmentCount != 9 || s.SegmentDuration != 3*time.Second || !s.OnDemand || s.Inputs[0].URL != "udp://239.1.1.1:5000" {
		t.Errorf("after merge %+v", s)
	}
	// null takes a key back to its default.
	put("news", `{"segment_duration":null}`)
	if s, _ = f.Config().Stream("news"); s.SegmentDuration != config.DefaultSegmentDuration || s.SegmentCount != 9 {
		t.Errorf("after null: %+v", s)
	}
	// $reset replaces the whole config.
	if a := put("news", `{"$reset":true,"inputs":[{"url":"udp://239.1.1.2:5000"}]}`); a.code != 200 {
		t.Fatalf("$reset: %s", a.body)
	}
	if s, _ = f.Config().Stream("news"); s.SegmentCount != config.DefaultSegmentCount || s.OnDemand || s.Inputs[0].Priority != 0 {
		t.Errorf("after $reset: %+v", s)
	}
	// What GET gives can be PUT back unchanged, stats and all.
	got := do(h, "GET", base+"/streams/beta", editAuth, "").body
	before, _ := f.Config().Stream("beta")
	if a := put("beta", string(got)); a.code != 200 {
		t.Fatalf("PUT of GET: %s", a.body)
	}
	if after, _ := f.Config().Stream("beta"); !after.Equal(before) {
		t.Errorf("PUT of GET changed the stream:\n%+v\n%+v", before, after)
	}
	// A live stream stays live.
	got = do(h, "GET", base+"/streams/omega", editAuth, "").body
	put("omega", string(got))
	if s, _ := f.Config().Stream("omega"); !s.Live || s.Password != "pub" || len(s.Inputs) != 0 {
		t.Errorf("live stream after PUT of GET: %+v", s)
	}

	changes := f.changes
	for _, c := range []struct{ name, body, pointer, code string }{
		{"news", `{bad`, "", "bad_json"},
		{"news", `[1,2]`, "", "bad_json"},
		{"news", `null`, "", "bad_json"},
		{"news", `{"colour":"red"}`, "/colour", "unknown_field"},
		{"news", `{"inputs":[{"url":"udp://239.1.1.2:5000"},{"url":"udp://nowhere"}]}`, "/inputs/1/url", "bad_value"},
		{"news", `{"inputs":[{"url":"udp://239.1.1.2:5000","priority":-1}]}`, "/inputs/0/priority", "bad_value"},
		{"news", `{"inputs":[{"url":"udp://239.1.1.2:5000","volume":3}]}`, "/inputs/0/volume", "unknown_field"},
		{"news", `{"inputs":[{"url":"fake://x"}]}`, "/inputs/0/url", "bad_value"},
		{"news", `{"inputs":"udp://239.1.1.2:5000"}`, "/inputs", "bad_value"},
		{"news", `{"inputs":[]}`, "/inputs", "bad_value"},
		{"news", `{"segment_count":1}`, "/segment_count", "bad_value"},
		{"news", `{"segment_count":"many"}`, "/segment_count", "bad_value"},
		{"news", `{"segment_duration":"x"}`, "/segment_duration", "bad_value"},
		{"news", `{"static":"yes"}`, "/static", "bad_value"},
		{"news", `{"name":"other"}`, "/name", "bad_value"},
		{"news", `{"$reset":1}`, "/$reset", "bad_value"},
		{"fresh", `{}`, "/inputs", "bad_value"},
		{"bad%20name", `{"inputs":[{"url":"udp://239.1.1.3:1"}]}`, "/name", "bad_name"},
		{"x%3Fy", `{"inputs":[{"url":"udp://239.1.1.3:1"}]}`, "/name", "bad_name"},
		{"admin", `{"inputs":[{"url":"udp://239.1.1.3:1"}]}`, "/name", "bad_name"},
		{"streamer/x", `{"inputs":[{"url":"udp://239.1.1.3:1"}]}`, "/name", "bad_name"},
	} {
		if code := put(c.name, c.body).errorAt(t, 400, c.pointer); code != c.code {
			t.Errorf("%s %s: code %q, want %q", c.name, c.body, code, c.code)
		}
	}
	big := `{"inputs":[{"url":"udp://239.1.1.2:5000"}],"on_publish":"` + strings.Repeat("x", MaxBody) + `"}`
	put("news", big).errorAt(t, 413, "")
	if f.changes != changes {
		t.Errorf("refused requests changed the config %d times", f.changes-changes)
	}
}

// Concurrent PUTs of one stream each change what they name and lose no
// other's change: every merge reads the config the one before left. The
// backend takes a while to write, as the daemon does (fsync), so two
// merges that read the same config would lose one of the two changes.
func TestConcurrentPuts(t *testing.T) {
	h, f := fixture(t)
	f.delay = 5 * time.Millisecond
	for round := 0; round < 5; round++ {
		count, timeout := 10+round, 5+round
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, body := range []string{fmt.Sprintf(`{"segment_count":%d}`, count), fmt.Sprintf(`{"source_timeout":%d}`, timeout)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = do(h, "PUT", base+"/streams/alpha", editAuth, body).code
			}()
		}
		wg.Wait()
		s, _ := f.Config().Stream("alpha")
		if codes[0] != 200 || codes[1] != 200 || s.SegmentCount != count || s.SourceTimeout != time.Duration(timeout)*time.Second {
			t.Fatalf("round %d: answers %v; segment_count %d, source_timeout %v: want %d and %ds", round, codes, s.SegmentCount, s.SourceTimeout, count, timeout)
		}
	}
}

func TestDelete(t *testing.T) {
	h, f := fixture(t)
	if a := do(h, "DELETE", base+"/streams/gamma", editAuth, ""); a.code != 204 || len(a.body) != 0 {
		t.Fatalf("delete: %d %s", a.code, a.body)
	}
	if _, ok := f.Config().Stream("gamma"); ok {
		t.Fatal("gamma is still configured")
	}
	do(h, "DELETE", base+"/streams/gamma", editAuth, "").errorAt(t, 404, "")
	do(h, "GET", base+"/streams/gamma", editAuth, "").errorAt(t, 404, "")
}

func TestConfigRoute(t *testing.T) {
	h, _ := fixture(t)
	m := do(h, "GET", base+"/config", viewAuth, "").json(t)
	if m["streams_count"] != 5.0 || m["edit_auth"] != true {
		t.Errorf("config: %v", m)
	}
	if strings.Contains(string(do(h, "GET", base+"/config", viewAuth, "").body), "s3cret") {
		t.Error("the config route gives a password")
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestOpenMetrics(t *testing.T) {
	h, _ := fixture(t)
	a := do(h, "GET", base+"/streams?format=openmetrics&sort=name", viewAuth, "")
	if a.code != 200 || !strings.HasPrefix(string(a.hdr.ContentType()), "application/openmetrics-text") {
		t.Fatalf("%d %s", a.code, a.hdr.ContentType())
	}
	body := string(a.body)
	for _, want := range []string{
		"# TYPE stream_bitrate gauge\n", `stream_bitrate{name="beta"} 9000` + "\n", `stream_alive{name="alpha"} 1` + "\n",
		`stream_alive{name="gamma"} 0` + "\n", `stream_bytes_in_total{name="alpha"} 1000` + "\n", `stream_cc_errors_total{name="beta"} 2` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
	if !strings.HasSuffix(body, "# EOF\n") {
		t.Error("no # EOF at the end")
	}
	do(h, "GET", base+"/streams?format=xml", viewAuth, "").errorAt(t, 400, "")
}
