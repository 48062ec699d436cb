package pipeline

import (
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// memReader is an input that is no socket: it hands over datagrams queued
// in memory, the way the live and pull inputs will.
type memReader struct{ queue [][]byte }

func (m *memReader) Fd() int      { return -1 }
func (m *memReader) Close() error { return nil }
func (m *memReader) ReadBatch(b *nic.Batch) (int, error) {
	b.Reset()
	for len(m.queue) > 0 && b.Put(m.queue[0]) {
		m.queue = m.queue[1:]
	}
	return b.Len(), nil
}

// clipSender cuts a clip into 7-packet datagrams, looping it.
type clipSender struct {
	clip []byte
	off  int
}

func (c *clipSender) next() []byte {
	const dg = 7 * ts.PacketSize
	if c.off+dg > len(c.clip) {
		c.off = 0
	}
	d := c.clip[c.off : c.off+dg]
	c.off += dg
	return d
}

// Failover, inside the package and without sockets: the stream leaves a
// silent input for the next live one in priority order, returns to the
// better one after it has delivered for switchBack, and is down when
// nothing delivers; every switch ends a segment and flags the next.
func TestFailover(t *testing.T) {
	cfg := config.Stream{Name: "f", SegmentDuration: time.Second, SegmentCount: 6, SourceTimeout: time.Second,
		Inputs: []config.Input{
			{URL: "udp://239.0.0.2:1234", Priority: 2, SourceTimeout: time.Second},
			{URL: "udp://239.0.0.1:1234", Priority: 1, SourceTimeout: time.Second},
		}}
	s := newStream(cfg, testPool(t, MinMemory), t.Logf)
	s.state.Store(stateRunning)
	if s.inputs[0].url.Addr.String() != "239.0.0.1:1234" {
		t.Fatalf("inputs not in priority order: %v first", s.inputs[0].url)
	}
	clip := readClip(t, "h264_aac.ts")
	mains, backups := &memReader{}, &memReader{}
	s.inputs[0].opened(mains, nil, epoch)
	s.inputs[1].opened(backups, nil, epoch)
	b := nic.NewBatch(batchCount, batchSize)
	srcs := []*clipSender{{clip: clip}, {clip: clip}}

	// run delivers each input that is on at the clip's own rate (the clip
	// is 10 s: no run below reaches its end), ticking every 100 ms.
	perTick := float64(len(clip)/(7*ts.PacketSize)) / 1000 // datagrams a 10 ms
	sent := []float64{0, 0}
	now := epoch
	run := func(d time.Duration, on ...bool) {
		for end := now.Add(d); now.Before(end); now = now.Add(10 * time.Millisecond) {
			for i, in := range s.inputs {
				if on[i] {
					q := in.conn.(*memReader)
					for sent[i] += perTick; sent[i] >= 1; sent[i]-- {
						q.queue = append(q.queue, srcs[i].next())
					}
					in.read(b, now)
				}
			}
			if now.Sub(epoch)%(100*time.Millisecond) == 0 {
				s.tick(now)
			}
		}
	}
	run(4*time.Second, true, true)
	st := s.Stats()
	if s.active != 0 || !st.Up || st.Count[Switches] != 0 || st.Count[Segments] == 0 {
		t.Fatalf("both live: active %d up %v switches %d segments %d", s.active, st.Up, st.Count[Switches], st.Count[Segments])
	}
	segs, disc := st.Count[Segments], st.Count[Discontinuities]

	run(3*time.Second, false, true) // the main input goes silent
	st = s.Stats()
	if s.active != 1 || s.ActiveInput() != "udp://239.0.0.2:1234" || st.Count[Switches] != 1 || !st.Up {
		t.Fatalf("main silent: active %d (%s) switches %d up %v", s.active, s.ActiveInput(), st.Count[Switches], st.Up)
	}
	if st.Count[Segments] <= segs || st.Count[Discontinuities] != disc+1 {
		t.Fatalf("after the switch: segments %d (before %d), discontinuities %d (before %d)",
			st.Count[Segments], segs, st.Count[Discontinuities], disc)
	}

	run(500*time.Millisecond, true, true) // back, but not yet for switchBack
	if s.active != 1 {
		t.Fatal("returned to the main input before it delivered for switchBack")
	}
	run(1500*time.Millisecond, true, true)
	if st = s.Stats(); s.active != 0 || st.Count[Switches] != 2 {
		t.Fatalf("main back: active %d switches %d", s.active, st.Count[Switches])
	}

	run(2*time.Second, false, false)
	if st = s.Stats(); st.Up || s.Status() != "down" || st.Count[Switches] != 2 {
		t.Fatalf("all silent: up %v status %s switches %d", st.Up, s.Status(), st.Count[Switches])
	}
	if st.Count[Datagrams] == 0 || st.Count[BadDatagrams] != 0 {
		t.Fatalf("datagrams %d, bad %d", st.Count[Datagrams], st.Count[BadDatagrams])
	}
}

// Input URLs reach logs and stats with their password hidden.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://cam:secret@10.0.0.5:554/s": "rtsp://cam:xxxxx@10.0.0.5:554/s",
		"udp://239.0.0.1:1234":             "udp://239.0.0.1:1234",
		"srt://h:9000?streamid=x":          "srt://h:9000?streamid=x",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
