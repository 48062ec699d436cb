package latency

import (
	"bytes"
	"strconv"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// clock is the benchmark's one monotonic time base: nanoseconds since
// epoch, read by the sender and every observer in this process.
type clock struct{ epoch time.Time }

func (c clock) now() int64 { return int64(time.Since(c.epoch)) }

// sent is a marker packet's hash and the time its datagram was sent.
type sent struct {
	hash uint64
	at   int64
}

// keyframe is the send time of a datagram carrying a keyframe's first
// packet, and that keyframe's PTS.
type keyframe struct {
	at  int64
	pts uint64
}

// seen is a marker candidate read by the client: its hash and the time the
// read that completed it returned.
type seen struct {
	hash uint64
	at   int64
}

// appearance is a segment first seen listed in the playlist.
type appearance struct {
	name   string
	extinf time.Duration
	at     int64 // the answer listing it was read
}

// lastSegment returns the last URI of a media playlist and its EXTINF.
func lastSegment(pl []byte) (name []byte, extinf time.Duration, ok bool) {
	var inf []byte
	for line := range bytes.SplitSeq(pl, []byte("\n")) {
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
		case bytes.HasPrefix(line, []byte("#EXTINF:")):
			inf, _, _ = bytes.Cut(line[len("#EXTINF:"):], []byte(","))
		case line[0] != '#':
			name, ok = line, true
			extinf = 0
			if f, err := strconv.ParseFloat(string(inf), 64); err == nil {
				extinf = time.Duration(f * float64(time.Second))
			}
		}
	}
	return name, extinf, ok
}

// window is the measured span of one phase, in clock time.
type window struct{ from, to int64 }

func (w window) has(t int64) bool { return t >= w.from && t < w.to }

// matchMarkers pairs each marker sent in w with the first time the client
// read its packet. A hash sent twice (which the markers' timestamps rule
// out, unless a loop repeats a PCR) is dropped rather than guessed.
func matchMarkers(markers []sent, log []seen, w window) (lat []time.Duration, missing int) {
	idx := make(map[uint64]int, len(markers))
	for i, m := range markers {
		if _, dup := idx[m.hash]; dup {
			idx[m.hash] = -1
			continue
		}
		idx[m.hash] = i
	}
	matched := make([]bool, len(markers))
	for _, s := range log {
		i, ok := idx[s.hash]
		if !ok || i < 0 || matched[i] {
			continue
		}
		matched[i] = true
		if w.has(markers[i].at) {
			lat = append(lat, time.Duration(s.at-markers[i].at))
		}
	}
	for i, m := range markers {
		if w.has(m.at) && !matched[i] && idx[m.hash] >= 0 {
			missing++
		}
	}
	return lat, missing
}

// attribute pairs each segment's first appearance in the playlist with the
// keyframe datagram that ended it: the last one sent before the answer
// listing it was read. A keyframe claimed twice counts as ambiguous and
// gives no sample.
func attribute(kfs []keyframe, seen []appearance, w window) (lat []time.Duration, consistent, ambiguous int) {
	used := make(map[int]bool)
	for _, a := range seen {
		j := -1
		for k := len(kfs) - 1; k >= 0; k-- {
			if kfs[k].at <= a.at {
				j = k
				break
			}
		}
		if j < 0 || !w.has(kfs[j].at) {
			continue
		}
		if used[j] {
			ambiguous++
			continue
		}
		used[j] = true
		lat = append(lat, time.Duration(a.at-kfs[j].at))
		if j > 0 {
			gop := time.Duration(ts.PTSDiff(kfs[j].pts, kfs[j-1].pts)) * time.Second / 90000
			if d := gop - a.extinf; d <= time.Millisecond && d >= -time.Millisecond {
				consistent++
			}
		}
	}
	return lat, consistent, ambiguous
}
