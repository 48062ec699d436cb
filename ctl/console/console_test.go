package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// serve runs Handler on an in-memory listener and returns a client of it.
func serve(t *testing.T) *fasthttp.HostClient {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(); ln.Close() })
	return &fasthttp.HostClient{Addr: "console", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

// do sends one request; headers are name, value pairs.
func do(t *testing.T, c *fasthttp.HostClient, method, uri string, headers ...string) *fasthttp.Response {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://console" + uri)
	req.Header.DisableNormalizing()
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp := new(fasthttp.Response)
	if method == fasthttp.MethodHead {
		resp.SkipBody = true
	}
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	return resp
}

func embedded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each asset is served whole with its type, no-cache and an ETag; HEAD
// gives the same headers without the body.
func TestAssets(t *testing.T) {
	c := serve(t)
	for _, tc := range []struct{ uri, file, ctype string }{
		{"/admin/", "index.html", "text/html; charset=utf-8"},
		{"/admin/index.html", "index.html", "text/html; charset=utf-8"},
		{"/admin/app.js", "app.js", "text/javascript; charset=utf-8"},
		{"/admin/app.css", "app.css", "text/css; charset=utf-8"},
		{"/admin/hls.min.js", "hls.min.js", "text/javascript; charset=utf-8"},
		{"/admin/favicon.svg", "favicon.svg", "image/svg+xml"},
		{"/admin/hls.min.js.LICENSE.txt", "hls.min.js.LICENSE.txt", "text/plain; charset=utf-8"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			want := embedded(t, tc.file)
			r := do(t, c, "GET", tc.uri)
			if r.StatusCode() != 200 {
				t.Fatalf("GET %s: %d", tc.uri, r.StatusCode())
			}
			if ct := string(r.Header.ContentType()); ct != tc.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if cc := string(r.Header.Peek("Cache-Control")); cc != "no-cache" {
				t.Errorf("Cache-Control %q", cc)
			}
			if v := string(r.Header.Peek("X-Content-Type-Options")); v != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", v)
			}
			if len(r.Header.Peek("Content-Encoding")) != 0 {
				t.Errorf("Content-Encoding %q without Accept-Encoding", r.Header.Peek("Content-Encoding"))
			}
			if !bytes.Equal(r.Body(), want) {
				t.Errorf("body: %d bytes, want the %d embedded", len(r.Body()), len(want))
			}
			csp := string(r.Header.Peek("Content-Security-Policy"))
			if isHTML := strings.HasSuffix(tc.file, ".html"); isHTML != (csp != "") {
				t.Errorf("Content-Security-Policy %q on %s", csp, tc.file)
			}
			etag := string(r.Header.Peek("ETag"))
			if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
				t.Errorf("ETag %q", etag)
			}

			h := do(t, c, "HEAD", tc.uri)
			if h.StatusCode() != 200 || string(h.Header.ContentType()) != tc.ctype || h.Header.ContentLength() != len(want) {
				t.Errorf("HEAD: %d %q length %d, want 200 %q %d", h.StatusCode(), h.Header.ContentType(), h.Header.ContentLength(), tc.ctype, len(want))
			}

			// Revalidation: the ETag gives 304 without a body.
			nm := do(t, c, "GET", tc.uri, "If-None-Match", etag)
			if nm.StatusCode() != 304 || len(nm.Body()) != 0 || string(nm.Header.Peek("ETag")) != etag {
				t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q", etag, nm.StatusCode(), len(nm.Body()), nm.Header.Peek("ETag"))
			}
			if r := do(t, c, "GET", tc.uri, "If-None-Match", `"other"`); r.StatusCode() != 200 {
				t.Errorf("If-None-Match of another ETag: %d", r.StatusCode())
			}
		})
	}
}

// A client that takes gzip gets the big assets gzipped, with their own
// ETag, and they unpack to the embedded bytes.
func TestGzip(t *testing.T) {
	c := serve(t)
	for _, f := range []string{"hls.min.js", "app.js", "index.html"} {
		r := do(t, c, "GET", "/admin/"+f, "Accept-Encoding", "gzip, deflate")
		if string(r.Header.Peek("Content-Encoding")) != "gzip" {
			t.Fatalf("%s: Content-Encoding %q", f, r.Header.Peek("Content-Encoding"))
		}
		if v := string(r.Header.Peek("Vary")); v != "Accept-Encoding" {
			t.Errorf("%s: Vary %q", f, v)
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.Body()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, embedded(t, f)) {
			t.Errorf("%s: gunzipped body differs", f)
		}
		plain := do(t, c, "GET", "/admin/"+f)
		if string(plain.Header.Peek("ETag")) == string(r.Header.Peek("ETag")) {
			t.Errorf("%s: gzip and identity share an ETag", f)
		}
		if r := do(t, c, "GET", "/admin/"+f, "Accept-Encoding", "gzip;q=0"); len(r.Header.Peek("Content-Encoding")) != 0 {
			t.Errorf("%s: gzip;q=0 got %q", f, r.Header.Peek("Content-Encoding"))
		}
	}
}

func TestNotFound(t *testing.T) {
	c := serve(t)
	for _, uri := range []string{"/admin/nope.js", "/admin/assets/app.js", "/admin/APP.JS", "/admin/app.js/",
		"/admin/../etc/passwd", "/admin/%2e%2e/console.go", "/admin/console.go", "/admin/app", "/adminx", "/", "/other/app.js"} {
		r := do(t, c, "GET", uri)
		if r.StatusCode() != 404 {
			t.Errorf("GET %s: %d, want 404", uri, r.StatusCode())
		}
	}
	r := do(t, c, "POST", "/admin/app.js")
	if r.StatusCode() != 405 || string(r.Header.Peek("Allow")) != "GET, HEAD" {
		t.Errorf("POST /admin/app.js: %d Allow %q, want 405 GET, HEAD", r.StatusCode(), r.Header.Peek("Allow"))
	}
}

func TestRedirect(t *testing.T) {
	c := serve(t)
	for uri, loc := range map[string]string{"/admin": "/admin/", "/admin?x=1": "/admin/?x=1"} {
		for _, m := range []string{"GET", "HEAD"} {
			r := do(t, c, m, uri)
			if r.StatusCode() != 301 || string(r.Header.Peek("Location")) != loc {
				t.Errorf("%s %s: %d Location %q, want 301 %q", m, uri, r.StatusCode(), r.Header.Peek("Location"), loc)
			}
		}
	}
}

// Every embedded file has a Content-Type (load skips others silently), and
// what index.html and app.js load exists.
func TestAssetsComplete(t *testing.T) {
	files := load()
	err := fs.WalkDir(assets, "assets", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if _, ok := contentTypes[path.Ext(p)]; !ok {
			t.Errorf("%s: no Content-Type for %q", p, path.Ext(p))
		}
		if files[strings.TrimPrefix(p, "assets/")] == nil {
			t.Errorf("%s is not served", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(string(embedded(t, "index.html")), -1)
	refs = append(refs, regexp.MustCompile(`src: "([^"]+)"`).FindAllStringSubmatch(string(embedded(t, "app.js")), -1)...)
	if len(refs) < 4 {
		t.Fatalf("found only %d references", len(refs))
	}
	for _, m := range refs {
		if files[m[1]] == nil {
			t.Errorf("the console refers to %q, which is not embedded", m[1])
		}
	}
	// The player is hls.js 1.7.4, the version the license note names.
	if !bytes.Contains(embedded(t, "hls.min.js"), []byte(`"1.7.4"`)) || !bytes.Contains(embedded(t, "hls.min.js.LICENSE.txt"), []byte("hls.js@1.7.4")) {
		t.Error("hls.min.js and its license note do not agree on version 1.7.4")
	}
}

// app.js parses (node --check), when node is installed; the browser test
// in cmd/slabcast runs it for real.
func TestAppJSParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node")
	}
	f := t.TempDir() + "/app.js"
	if err := os.WriteFile(f, embedded(t, "app.js"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("node --check app.js: %v\n%s", err, out)
	}
}
