package main

import (
	"net"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl/api"
	"github.com/slabcast/slabcast/ctl/console"
	"github.com/slabcast/slabcast/hls"
)

// mountAPI serves the HTTP API (/streamer/api/v3/) and the console
// (/admin/) on srv, on the
// listeners that did not turn it off (`http 8080 { api false; }`), with
// the access rules of the running config: a reload that changes edit_auth
// or api_allowed_from applies to the next request.
func (d *daemon) mountAPI(srv *hls.Server, cfg *config.Config, lns []net.Listener) {
	off := map[int]bool{} // ports of listeners without the API
	for i, l := range cfg.HTTP {
		if !l.API && i < len(lns) {
			off[lns[i].Addr().(*net.TCPAddr).Port] = true
		}
	}
	served := func(ctx *fasthttp.RequestCtx) bool {
		if len(off) == 0 {
			return true
		}
		a, ok := ctx.LocalAddr().(*net.TCPAddr)
		return !ok || !off[a.Port]
	}
	h := api.New(d, parseOptions, d.logf)
	srv.Mount(api.Prefix, func(ctx *fasthttp.RequestCtx) {
		if !served(ctx) {
			ctx.Error("not found\n", fasthttp.StatusNotFound)
			return
		}
		h.ServeHTTP(ctx)
	})
	// The console: the same credentials (view_auth may look, edit_auth
	// may change too), so the browser's own Basic prompt opens both.
	page := console.Handler()
	srv.Mount(console.Prefix, func(ctx *fasthttp.RequestCtx) {
		if !served(ctx) {
			ctx.Error("not found\n", fasthttp.StatusNotFound)
			return
		}
		if _, err := api.Authorize(ctx, d.Config()); err != nil {
			api.WriteError(ctx, err)
			return
		}
		page(ctx)
	})
	if len(off) > 0 {
		d.logf("http: the API and console are off on port(s) %s", portsText(off))
	}
}

func portsText(m map[int]bool) string {
	s := ""
	for p := range m {
		if s != "" {
			s += ", "
		}
		s += strconv.Itoa(p)
	}
	return s
}
