package hls

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// Health for load balancers and Kubernetes probes, at Flussonic's paths.
// Liveness: the HTTP server answers (the process is not wedged). Readiness:
// the origin can serve players: it is not shutting down and, when streams
// that run all the time are configured (not ondemand, not published to),
// at least one of them has a segment, so a standby origin whose multicast
// is gone drops out of the balancer while its twin serves.

var (
	pathLiveness  = []byte("/monitoring/liveness")
	pathReadiness = []byte("/monitoring/readiness")
)

func (s *Server) serveLiveness(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	ctx.SetBodyString(`{"status":"ok"}` + "\n")
}

func (s *Server) serveReadiness(ctx *fasthttp.RequestCtx) {
	static, serving := 0, 0
	for _, st := range s.streams.Streams() {
		c := st.Config()
		if c.OnDemand || c.Live || c.Disabled {
			continue
		}
		static++
		if st.Timeline() != nil {
			serving++
		}
	}
	status := "ready"
	switch {
	case s.closing.Load():
		status = "shutting_down"
	case static > 0 && serving == 0:
		status = "no_stream_serving"
	}
	ctx.SetContentType("application/json")
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	if status != "ready" {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	ctx.SetBodyString(`{"status":"` + status + `","streams":` + strconv.Itoa(static) + `,"serving":` + strconv.Itoa(serving) + "}\n")
}
