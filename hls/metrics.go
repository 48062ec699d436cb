package hls

import (
	"bytes"
	"io"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// serveMetrics writes the Prometheus text exposition (docs/SPEC.md §6). Series are
// read from the streams' counters at scrape time, so a removed stream's
// series simply vanish and nothing is registered or unregistered.
func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	var b bytes.Buffer
	s.WriteMetrics(&b)
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(b.Bytes())
}

// gauges are the per-stream series that are not pipeline counters.
var gauges = []struct {
	name, help string
	value      func(st *pipeline.Stats) uint64
}{
	{"slabcast_input_bitrate", "Input bits per second over the last second.", func(st *pipeline.Stats) uint64 { return st.Bitrate }},
	{"slabcast_stream_running", "1 while the stream's inputs are open; 0 for an ondemand stream waiting for a client.", func(st *pipeline.Stats) uint64 { return b2u(st.Running) }},
	{"slabcast_stream_up", "1 while data arrives within source_timeout.", func(st *pipeline.Stats) uint64 { return b2u(st.Up) }},
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// WriteMetrics writes every metric in Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	streams := s.streams.Streams()
	stats := make([]pipeline.Stats, len(streams))
	for i, st := range streams {
		stats[i] = st.Stats()
	}
	b := make([]byte, 0, 4096)
	// One family per metric name, in the order pipeline.Counters gives;
	// the counters of a group are its series by reason.
	for c := pipeline.Counter(0); c < pipeline.NumCounters; c++ {
		info := &pipeline.Counters[c]
		if c > 0 && pipeline.Counters[c-1].Metric == info.Metric {
			continue // written with the family's first counter
		}
		b = header(b, info.Metric, "counter", info.Help)
		for i, st := range streams {
			for k := c; k < pipeline.NumCounters && pipeline.Counters[k].Metric == info.Metric; k++ {
				b = series(b, info.Metric, st.Name(), reasonKey(k), pipeline.Counters[k].Reason, stats[i].Count[k])
			}
		}
	}
	for _, g := range gauges {
		b = header(b, g.name, "gauge", g.help)
		for i, st := range streams {
			b = series(b, g.name, st.Name(), "", "", g.value(&stats[i]))
		}
	}
	b = header(b, "slabcast_ts_errors_total", "counter", "TS faults by ETSI TR 101 290 indicator (priority 1 and 2).")
	for i, st := range streams {
		for ind := ts.Indicator(0); ind < ts.NumIndicators; ind++ {
			b = series(b, "slabcast_ts_errors_total", st.Name(), "indicator", ind.String(), stats[i].TS[ind])
		}
	}
	b = header(b, "slabcast_mpegts_clients", "gauge", "HTTP MPEG-TS clients attached.")
	for _, st := range streams {
		b = series(b, "slabcast_mpegts_clients", st.Name(), "", "", uint64(st.Clients()))
	}
	b = header(b, "slabcast_http_requests_total", "counter", "HTTP requests answered, by status code.")
	for code := range s.codes {
		if n := s.codes[code].Load(); n != 0 {
			b = append(b, `slabcast_http_requests_total{code="`...)
			b = strconv.AppendInt(b, int64(code), 10)
			b = append(b, `"} `...)
			b = strconv.AppendUint(b, n, 10)
			b = append(b, '\n')
		}
	}
	b = s.conns.appendMetrics(b)
	b = header(b, "slabcast_mpegts_lagged_total", "counter", "HTTP MPEG-TS readers that fell behind the slab ring and jumped to the live edge.")
	b = appendPlain(b, "slabcast_mpegts_lagged_total", s.liveMiss.Load())
	b = appendPublishMetrics(b)
	pool := s.streams.Pool()
	b = header(b, "slabcast_pool_bytes", "gauge", "Slab pool capacity.")
	b = appendPlain(b, "slabcast_pool_bytes", uint64(pool.Size()))
	b = header(b, "slabcast_pool_free_bytes", "gauge", "Slab pool bytes not held by any stream.")
	b = appendPlain(b, "slabcast_pool_free_bytes", uint64(pool.Free()))
	b = header(b, "slabcast_pool_exhausted_total", "counter", "Times a stream needed a slab chunk and the pool had none free.")
	b = appendPlain(b, "slabcast_pool_exhausted_total", pool.Exhausted())
	b = header(b, "slabcast_packaged_bytes", "gauge", "Packaged forms (fMP4, DASH) kept with segments, on the heap; at most the pool's size.")
	b = appendPlain(b, "slabcast_packaged_bytes", uint64(pool.PackedBytes()))
	b = header(b, "slabcast_packaged_evicted_total", "counter", "Kept packaged forms dropped, oldest first, to keep newer ones within the bound.")
	b = appendPlain(b, "slabcast_packaged_evicted_total", pool.PackedEvicted())
	b = header(b, "slabcast_packaged_uncached_total", "counter", "Packaged forms made for one request and not kept: larger than the whole bound.")
	b = appendPlain(b, "slabcast_packaged_uncached_total", pool.PackedUncached())
	// The Go runtime and process metrics come without HELP lines, which
	// promtool check metrics (and some scrapers' linting) refuses: each
	// name gets one.
	var proc bytes.Buffer
	metrics.WriteProcessMetrics(&proc)
	b = appendHelped(b, proc.Bytes())
	w.Write(b)
}

// appendHelped appends the exposition text in, giving each metric name
// that has no HELP line one.
func appendHelped(b, in []byte) []byte {
	var last []byte
	for len(in) > 0 {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, in = in[:i+1], in[i+1:]
		} else {
			in = nil
		}
		if len(line) > 0 && line[0] != '#' {
			name := line
			if i := bytes.IndexAny(line, "{ "); i >= 0 {
				name = line[:i]
			}
			if !bytes.Equal(name, last) {
				b = append(b, "# HELP "...)
				b = append(b, name...)
				b = append(b, " Go runtime or process metric.\n"...)
				last = name
			}
		}
		b = append(b, line...)
	}
	return b
}

// reasonKey is the label key of counter c's series: "reason" in a family
// of reasons, none otherwise.
func reasonKey(c pipeline.Counter) string {
	if pipeline.Counters[c].Reason != "" {
		return "reason"
	}
	return ""
}

func header(b []byte, name, typ, help string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, help...)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

func series(b []byte, name, stream, k, v string, n uint64) []byte {
	b = append(b, name...)
	b = append(b, `{stream="`...)
	b = append(b, stream...) // names are [A-Za-z0-9._-]: nothing to escape
	if k != "" {
		b = append(b, `",`...)
		b = append(b, k...)
		b = append(b, `="`...)
		b = append(b, v...)
	}
	b = append(b, `"} `...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}

// labelled writes one series with one label other than stream.
func labelled(b []byte, name, k, v string, n uint64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, k...)
	b = append(b, `="`...)
	b = append(b, v...)
	b = append(b, `"} `...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}

func appendPlain(b []byte, name string, n uint64) []byte {
	b = append(b, name...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}

// appendPublishMetrics writes the publishers refused and the sessions
// ended, by protocol and reason, every series always (a refusal is worth
// seeing at zero too).
func appendPublishMetrics(b []byte) []byte {
	families := []struct {
		name, help string
		reasons    []string
		count      func(proto, reason string) uint64
	}{
		{"slabcast_publish_refused_total", "Publishers refused, by protocol and reason.", pipeline.RefusalReasons, pipeline.Refused},
		{"slabcast_publish_ended_total", "Publishing sessions ended, by protocol and reason.", pipeline.EndReasons, pipeline.Ended},
	}
	for _, f := range families {
		b = header(b, f.name, "counter", f.help)
		for _, proto := range pipeline.PublishProtocols {
			for _, r := range f.reasons {
				b = append(b, f.name...)
				b = append(b, `{proto="`...)
				b = append(b, proto...)
				b = append(b, `",reason="`...)
				b = append(b, r...)
				b = append(b, `"} `...)
				b = strconv.AppendUint(b, f.count(proto, r), 10)
				b = append(b, '\n')
			}
		}
	}
	return b
}
