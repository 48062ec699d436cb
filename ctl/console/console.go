// Package console serves slabcast's web console under /admin/: one HTML
// page, its script and style sheet, and hls.js for the player, all embedded
// in the binary (a headend has no internet, so nothing comes from a CDN).
// The page talks to the HTTP API (/streamer/api/v3/…) on the same origin.
//
// The handler does no authentication: the caller puts it behind the same
// Basic auth as the API, so the browser's own login prompt guards both.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console lives; Prefix without its slash redirects
// there.
const Prefix = "/admin/"

// contentTypes maps an asset's extension to its Content-Type. An asset of
// another kind is not served (the unit tests check there is none).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
}

// csp is the page's Content-Security-Policy: everything from this origin
// only, no inline script or style; blob: for hls.js's worker and its
// MediaSource. No framing, so no clickjacking of the Delete button.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, ready to send.
type asset struct {
	body  []byte
	gz    []byte // gzip of body, nil when that does not pay
	ctype string
	etag  string // strong, of body; the gzip form's is etagGz
	html  bool
}

func (a *asset) etagGz() string { return strings.TrimSuffix(a.etag, `"`) + `-gz"` }

// load reads the embedded files once.
var load = sync.OnceValue(func() map[string]*asset {
	files := make(map[string]*asset)
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(sub, ".", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, html: path.Ext(name) == ".html"}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body)*9/10 {
			a.gz = buf.Bytes()
		}
		files[name] = a
		return nil
	})
	if err != nil {
		panic(err)
	}
	return files
})

// Handler serves the console: GET and HEAD of /admin/ (the page) and
// /admin/FILE (its assets), a 301 from /admin to /admin/, 404 for anything
// else under /admin/. Every answer is Cache-Control: no-cache with a strong
// ETag, so a browser revalidates (304) and an upgraded daemon's console is
// never mixed with a cached old script. Assets go gzipped to clients that
// take it.
func Handler() fasthttp.RequestHandler {
	files := load()
	return func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		if p == strings.TrimSuffix(Prefix, "/") {
			loc := Prefix
			if q := ctx.URI().QueryString(); len(q) > 0 {
				loc += "?" + string(q)
			}
			ctx.Response.Header.Set("Location", loc)
			ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(p, Prefix)
		if !ok {
			notFound(ctx)
			return
		}
		if name == "" {
			name = "index.html"
		}
		a := files[name]
		if a == nil {
			notFound(ctx)
			return
		}
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed)
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			return
		}
		h := &ctx.Response.Header
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if a.html {
			h.Set("Content-Security-Policy", csp)
			h.Set("Referrer-Policy", "same-origin")
		}
		body, etag := a.body, a.etag
		if a.gz != nil {
			h.Set("Vary", "Accept-Encoding")
			if ctx.Request.Header.HasAcceptEncoding("gzip") {
				body, etag = a.gz, a.etagGz()
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(string(inm), a) {
			h.Del("Content-Encoding")
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return
		}
		h.SetContentType(a.ctype)
		ctx.SetBody(body)
	}
}

// etagMatch reports whether an If-None-Match value names a's current
// content in either encoding (weak comparison, as RFC 9110 wants for it).
func etagMatch(inm string, a *asset) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == a.etag || t == a.etagGz() {
			return true
		}
	}
	return false
}

func notFound(ctx *fasthttp.RequestCtx) {
	ctx.Error("not found\n", fasthttp.StatusNotFound) // resets the headers
	ctx.Response.Header.Set("Cache-Control", "no-cache")
}
