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

// serveMetrics writes the Prometheus text exposition (SPEC.md §6). Series are
// read from the streams' counters at scrape time, so a removed stream's
// series simply vanish and nothing is registered or unregistered.
func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	var b bytes.Buffer
	s.WriteMetrics(&b)
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(b.Bytes())
}

type family struct {
	name, typ, help string
	value           func(st *pipeline.Stats) uint64
}

var streamFamilies = []family{
	{"slabcast_input_bytes_total", "counter", "Bytes of datagrams received on the stream's input.", func(st *pipeline.Stats) uint64 { return st.Bytes }},
	{"slabcast_input_datagrams_total", "counter", "Datagrams received on the stream's input.", func(st *pipeline.Stats) uint64 { return st.Datagrams }},
	{"slabcast_input_packets_total", "counter", "TS packets received on the stream's input.", func(st *pipeline.Stats) uint64 { return st.Packets }},
	{"slabcast_input_bad_datagrams_total", "counter", "Datagrams that were not whole TS packets (cut short, or not TS at all).", func(st *pipeline.Stats) uint64 { return st.BadDatagrams }},
	{"slabcast_input_kernel_drops_total", "counter", "Datagrams the kernel dropped because the socket's receive buffer was full (SO_RXQ_OVFL).", func(st *pipeline.Stats) uint64 { return st.KernelDrops }},
	{"slabcast_input_rtp_lost_total", "counter", "RTP sequence numbers that never arrived (gaps), on rtp:// inputs.", func(st *pipeline.Stats) uint64 { return st.RTPLost }},
	{"slabcast_input_rtp_reordered_total", "counter", "RTP packets that arrived out of order and were put back in order.", func(st *pipeline.Stats) uint64 { return st.RTPReordered }},
	{"slabcast_input_rtp_duplicates_total", "counter", "RTP packets received twice (the second copy is dropped).", func(st *pipeline.Stats) uint64 { return st.RTPDuplicates }},
	{"slabcast_input_rtp_late_total", "counter", "RTP packets that arrived after their gap had been given up (dropped; already counted lost).", func(st *pipeline.Stats) uint64 { return st.RTPLate }},
	{"slabcast_input_ts_lost_total", "counter", "TS packets missing from the input by the continuity counters.", func(st *pipeline.Stats) uint64 { return st.TSLost }},
	{"slabcast_dropped_packets_total", "counter", "TS packets not stored for lack of slab memory.", func(st *pipeline.Stats) uint64 { return st.Dropped }},
	{"slabcast_segments_total", "counter", "HLS segments completed.", func(st *pipeline.Stats) uint64 { return st.Segments }},
	{"slabcast_segments_forced_total", "counter", "Segments cut without a keyframe because none was recognised within 3 segment durations.", func(st *pipeline.Stats) uint64 { return st.ForcedCuts }},
	{"slabcast_discontinuities_total", "counter", "Segments flagged EXT-X-DISCONTINUITY (source restart, timestamp jump, new program layout).", func(st *pipeline.Stats) uint64 { return st.Discontinuities }},
	{"slabcast_input_bitrate", "gauge", "Input bits per second over the last second.", func(st *pipeline.Stats) uint64 { return st.Bitrate }},
	{"slabcast_input_switches_total", "counter", "Failovers between a stream's inputs.", func(st *pipeline.Stats) uint64 { return st.Switches }},
	{"slabcast_stream_running", "gauge", "1 while the stream's inputs are open; 0 for an ondemand stream waiting for a client.", func(st *pipeline.Stats) uint64 {
		if st.Running {
			return 1
		}
		return 0
	}},
	{"slabcast_stream_up", "gauge", "1 while data arrives within source_timeout.", func(st *pipeline.Stats) uint64 {
		if st.Up {
			return 1
		}
		return 0
	}},
}

// WriteMetrics writes every metric in Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	streams := s.streams.Streams()
	stats := make([]pipeline.Stats, len(streams))
	for i, st := range streams {
		stats[i] = st.Stats()
	}
	b := make([]byte, 0, 4096)
	for _, f := range streamFamilies {
		b = header(b, f.name, f.typ, f.help)
		for i, st := range streams {
			b = series(b, f.name, st.Name(), "", "", f.value(&stats[i]))
		}
	}
	b = header(b, "slabcast_input_filtered_total", "counter", "Datagrams the input socket filter refused, by reason.")
	for i, st := range streams {
		for _, r := range []struct {
			name string
			n    uint64
		}{{"bad_size", stats[i].FilteredSize}, {"bad_sync", stats[i].FilteredSync}, {"bad_rtp", stats[i].FilteredRTP}} {
			b = series(b, "slabcast_input_filtered_total", st.Name(), "reason", r.name, r.n)
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
	b = header(b, "slabcast_mpegts_lagged_total", "counter", "HTTP MPEG-TS readers that fell behind the slab ring and jumped to the live edge.")
	b = appendPlain(b, "slabcast_mpegts_lagged_total", s.liveMiss.Load())
	pool := s.streams.Pool()
	b = header(b, "slabcast_pool_bytes", "gauge", "Slab pool capacity.")
	b = appendPlain(b, "slabcast_pool_bytes", uint64(pool.Size()))
	b = header(b, "slabcast_pool_free_bytes", "gauge", "Slab pool bytes not held by any stream.")
	b = appendPlain(b, "slabcast_pool_free_bytes", uint64(pool.Free()))
	b = header(b, "slabcast_pool_exhausted_total", "counter", "Times a stream needed a slab chunk and the pool had none free.")
	b = appendPlain(b, "slabcast_pool_exhausted_total", pool.Exhausted())
	w.Write(b)
	metrics.WriteProcessMetrics(w)
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

func appendPlain(b []byte, name string, n uint64) []byte {
	b = append(b, name...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}
