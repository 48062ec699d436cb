package hls

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/pipeline"
)

// Mounted handlers take their paths, every method and bodies larger than
// the streams' routes allow; everything else still reaches the streams'
// routes, and their answers are counted with the rest.
func TestMount(t *testing.T) {
	p, err := pipeline.New(pipeline.Options{Memory: pipeline.MinMemory, CPUs: []int{0}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv := New(p, t.Logf, DefaultLimits)
	srv.Mount("/admin/", func(ctx *fasthttp.RequestCtx) {
		var body []byte
		if r := ctx.RequestBodyStream(); r != nil {
			body, _ = io.ReadAll(r)
		} else {
			body = ctx.PostBody()
		}
		ctx.SetStatusCode(418)
		ctx.SetBodyString(string(ctx.Method()) + " " + string(ctx.Path()) + " " + strconv.Itoa(len(body)))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + ln.Addr().String()
	req := func(method, path string, body []byte) (int, string) {
		t.Helper()
		r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	big := bytes.Repeat([]byte("x"), 3*maxBody+7) // more than the streams' routes take
	for _, c := range []struct {
		method, path string
		body         []byte
		code         int
		want         string
	}{
		{"GET", "/admin", nil, 418, "GET /admin 0"},
		{"GET", "/admin/", nil, 418, "GET /admin/ 0"},
		{"DELETE", "/admin/x/y", nil, 418, "DELETE /admin/x/y 0"},
		{"PUT", "/admin/s", big, 418, "PUT /admin/s 12295"},
		{"GET", "/administrator/index.m3u8", nil, 404, ""},
		{"GET", "/admin.x/index.m3u8", nil, 404, ""},
		{"PUT", "/other", big, 413, ""},
	} {
		code, body := req(c.method, c.path, c.body)
		if code != c.code || c.want != "" && body != c.want {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
	_, metrics := req("GET", "/metrics", nil)
	if !strings.Contains(metrics, `slabcast_http_requests_total{code="418"} 4`) {
		t.Errorf("mounted answers not counted:\n%s", metrics)
	}
	defer func() {
		if recover() == nil {
			t.Error("Mount without a trailing slash did not panic")
		}
	}()
	srv.Mount("/api", nil)
}
