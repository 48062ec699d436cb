package edge

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// SegmentGoal is the expectation: behind an edge, the origin sees
// about one request per segment (per edge), whatever the viewer count.
// Measured as the edge's origin requests for media per distinct media URL
// among them (the cache lock makes it 1); the requests per new segment
// cut are shown beside it, with a window's edges' ±1 in them.
const SegmentGoal = 1.1

// PlaylistGoal bounds the edge's playlist requests to the origin, per
// second: the edge keeps a playlist 1 s (1 to 2 s on nginx's whole-second
// clock), so about one every 2 s, whatever the viewer count.
const PlaylistGoal = 1.0

// cacheWords lists the edge's answers by cache status.
func cacheWords(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(out) == 0 {
		return "–"
	}
	return strings.Join(out, ", ")
}

// WriteMarkdown writes the results file.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	serverCores, _ := proc.CountCPUs(cfg.ServerCPUs)
	loadCores, _ := proc.CountCPUs(cfg.LoadCPUs)
	if cfg.ServerCPUs == "" {
		serverCores = 0
	}
	if cfg.LoadCPUs == "" {
		loadCores = 0
	}
	rep.Header(&b, "Edge cache: HLS viewers through nginx in front of slabcast",
		"Issue 13 (\"Beyond one box\"): simulated HLS viewers served by slabcast directly against the same viewers served "+
			"through one nginx edge cache with the deployed config (deploy/nginx/slabcast-edge.conf), and the request rate "+
			"the origin sees behind the edge: about one request per new segment, plus a playlist refresh every 2 s, whatever "+
			"the number of viewers.", rep.Nginx)
	pin := "unpinned"
	if cfg.ServerCPUs != "" {
		pin = fmt.Sprintf("slabcast and nginx pinned with taskset to CPU %s, the feeder and the viewers (the benchmark's own threads) to CPU %s",
			cfg.ServerCPUs, cfg.LoadCPUs)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace; %s. One stream `%s` takes a multicast feed (`slabcast feed --loop` of a "+
		"clip encoded on the fly: %s; %.2f Mbit/s measured at slabcast's input) with segment_duration %d and segment_count %d. "+
		"The edge is nginx (worker_processes %d) with deploy/nginx/slabcast-edge.conf as an operator installs it, its EDIT "+
		"values rewritten (both origins the one slabcast; the cache in %s; its access log on, as deployed).\n\n",
		pin, stream, clip.FeedRecipe, rep.Input/1e6, cfg.SegmentDuration, cfg.SegmentCount, rep.Workers, rep.Cache)
	fmt.Fprintf(&b, "Each viewer is a goroutine acting like a player: it polls `/%s/index.m3u8` once a segment duration (the "+
		"viewers' first polls spread evenly over one), fetches every segment listed since its previous poll (the newest at "+
		"its first) and reads each body to its end; viewers share a keep-alive connection pool. The offered load is "+
		"the viewers and the request rate they make when every answer is instant: a playlist and a segment each a segment "+
		"duration. A poll that begins more than a tenth of a segment duration after its turn (the viewer was still "+
		"fetching) is late: the viewers did not get what they asked for in time. Per viewer count, the same viewers run "+
		"direct and through the edge, in alternating order (direct first at the first count, edge first at the next, …), "+
		"each %v of warm-up (not counted: the viewers start, the edge fills its cache) then a measured window of %v.\n\n",
		stream, cfg.warmup(), cfg.Window)

	b.WriteString("## Viewers: direct against through the edge\n\n")
	report.TableHead(&b, "rlrrrrrrrrrrrrll", "viewers", "path", "offered req/s", "answered req/s", "Gbit/s received",
		"segment fetch p50 ms", "p99 ms", "late polls", "errors", "slabcast cores", "nginx cores", "server + edge cores",
		"server core busy", "load core busy", "bound", "kept up")
	for _, m := range rep.Measures {
		sc, nc := m.Cores()
		sb, lb := m.Busy(serverCores, loadCores)
		fmt.Fprintf(&b, "| %d | %v | %.0f | %.0f | %.3f | %s | %s | %d | %d | %.3f | %.3f | %.3f | %.2f | %.2f | %s | %s |\n",
			m.Viewers, m.Path, Offered(m.Viewers, cfg.SegmentDuration), m.RPS(), m.Gbps(),
			ms(quantile(m.Viewed.Latency, 0.5)), ms(quantile(m.Viewed.Latency, 0.99)), m.Viewed.Late, m.Viewed.Errors,
			sc, nc, sc+nc, sb, lb, m.Bound(serverCores, loadCores), map[bool]string{true: "yes", false: "no"}[m.KeptUp()])
	}
	b.WriteString("\nGbit/s received counts bodies (playlists and segments). Cores: user+system CPU time from /proc over the " +
		"window a second (slabcast's process, its ingest included; nginx's master and workers). Core busy: the share of " +
		"the pinned core not idle (/proc/stat), the kernel's loopback TCP work included. Bound: the core that was full " +
		"(busy ≥ 0.95): the load generator's (then the window measures the viewers' goroutines, not the servers), the " +
		"server's, both, or – for neither. Kept up: no late poll and no error.\n\n")
	for _, m := range rep.Measures {
		if m.Viewed.FirstError != "" {
			fmt.Fprintf(&b, "- %v, %d viewers: first error: %s\n", m.Path, m.Viewers, m.Viewed.FirstError)
		}
	}

	b.WriteString("\n## The origin behind the edge\n\n")
	report.TableHead(&b, "rrrrrrrrrrrrrl", "viewers", "window s", "segments cut", "origin requests (slabcast)",
		"edge → origin: playlists", "segments", "distinct segments", "other", "requests per distinct segment",
		"segment requests per new segment", "playlist requests/s", "all origin requests per new segment",
		"direct: origin requests per new segment", "edge answers by cache status")
	for _, m := range rep.Measures {
		if m.Path != Edge {
			continue
		}
		direct := "–"
		if dm := rep.Of(Direct, m.Viewers); dm != nil && dm.Origin.NewSegments > 0 {
			direct = fmt.Sprintf("%.1f", float64(dm.Origin.Requests)/float64(dm.Origin.NewSegments))
		}
		fmt.Fprintf(&b, "| %d | %.1f | %d | %d | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
			m.Viewers, m.Wall.Seconds(), m.Origin.NewSegments, m.Origin.Requests, m.Origin.Playlists, m.Origin.Segments,
			m.Origin.Distinct, m.Origin.Other, m.PerDistinct(), m.PerSegment("segments"), perSecond(float64(m.Origin.Playlists), m.Wall), m.PerSegment("all"),
			direct, cacheWords(m.Origin.Cache))
	}
	b.WriteString("\nOrigin requests (slabcast): the rise of slabcast_http_requests_total (every status) over the window, " +
		"less the benchmark's own /metrics scrape. Edge → origin: the edge's access-log lines of the window with " +
		"$upstream_addr set, by kind (playlists .m3u8/.mpd, segments .ts/.m4s/.mp4); the two counts differ by the " +
		"requests that end on either side of a window's edges. Cache status: $upstream_cache_status of every answer " +
		"to the viewers (UPDATING: the old copy, served while one request refreshed it; – : not cacheable).\n")

	rep.writeGoals(&b, serverCores, loadCores)

	b.WriteString("\n## Caveats\n\n")
	b.WriteString("- Two cores on a shared VM: the viewers (and the feeder) get one, slabcast and nginx the other. The viewers are " +
		"Go HTTP clients: reading a body costs them about as much as sending it costs a server, so at high counts the load " +
		"core fills first and the window measures the load generator (its bound says so); the viewers then fall behind " +
		"(late polls) rather than the servers.\n")
	b.WriteString("- Through the edge, slabcast and nginx share the server core: the server + edge column is what one box " +
		"running both would spend. A real edge runs on other machines, where slabcast's share is the origin's cost alone.\n")
	b.WriteString("- Loopback only: no network latency between viewers, edge and origin, so the cache lock (a crowd waiting for " +
		"one origin fetch) holds viewers for the origin's answer time here, milliseconds; across a WAN it is longer.\n")
	fmt.Fprintf(&b, "- One run per case, windows of %v: a ratio within a few percent is no difference.\n", cfg.Window)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeGoals writes the verdicts: the origin's requests per new segment
// behind the edge against SegmentGoal, its playlist rate against
// PlaylistGoal, and what the edge saved the origin.
func (rep *Report) writeGoals(b *strings.Builder, serverCores, loadCores int) {
	b.WriteString("\n## Goals\n\n")
	var worstSeg, worstPl float64
	var edges int
	for _, m := range rep.Measures {
		if m.Path != Edge || m.Origin.NewSegments == 0 {
			continue
		}
		edges++
		worstSeg = max(worstSeg, m.PerDistinct())
		worstPl = max(worstPl, perSecond(float64(m.Origin.Playlists), m.Wall))
	}
	if edges == 0 {
		b.WriteString("- No edge window cut a segment: nothing to judge.\n")
		return
	}
	fmt.Fprintf(b, "- The origin's segment requests behind the edge, per distinct segment (goal ≤ %.1f at every viewer count: "+
		"each segment asked of the origin once, however many viewers want it): at most %.2f: %s.\n",
		SegmentGoal, worstSeg, report.Met(worstSeg <= SegmentGoal))
	fmt.Fprintf(b, "- The origin's playlist requests behind the edge, per second (goal ≤ %.1f at every viewer count): at most "+
		"%.2f: %s.\n", PlaylistGoal, worstPl, report.Met(worstPl <= PlaylistGoal))
	for _, n := range rep.viewerCounts() {
		d, e := rep.Of(Direct, n), rep.Of(Edge, n)
		if d == nil || e == nil {
			continue
		}
		dc, _ := d.Cores()
		ec, en := e.Cores()
		var notes []string
		for _, m := range []*Measure{d, e} {
			if bd := m.Bound(serverCores, loadCores); bd != "–" {
				notes = append(notes, fmt.Sprintf("%v bound by %s", m.Path, bd))
			}
			if !m.KeptUp() {
				notes = append(notes, fmt.Sprintf("%v: %d late polls, %d errors", m.Path, m.Viewed.Late, m.Viewed.Errors))
			}
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(b, "- %d viewers: the origin answered %.1f requests/s direct and %.2f behind the edge; slabcast %.3f cores "+
			"direct, %.3f behind the edge, nginx %.3f; %.3f and %.3f Gbit/s delivered%s.\n",
			n, perSecond(float64(d.Origin.Requests), d.Wall), perSecond(float64(e.Origin.Requests), e.Wall),
			dc, ec, en, d.Gbps(), e.Gbps(), note)
	}
}

// viewerCounts lists the viewer counts measured, in order.
func (rep *Report) viewerCounts() []int {
	var out []int
	for _, m := range rep.Measures {
		if !slices.Contains(out, m.Viewers) {
			out = append(out, m.Viewers)
		}
	}
	return out
}
