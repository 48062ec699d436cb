package ingest

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// receiver is one receive path under test, reading the group on its own
// pinned core.
type receiver interface {
	// counts returns the datagrams received and those the kernel dropped
	// for a full receive queue, both cumulative since the receiver opened.
	counts() (received, drops uint64)
	// settle is how long after the last datagram counts may still move
	// (the pipeline publishes kernel drops on a 100 ms tick).
	settle() time.Duration
	// extra returns the pipeline's own counters; ok is false for the bare
	// loop.
	extra() (st pipeline.Stats, ok bool)
	close() error
}

// Same as the pipeline's receive worker, so the bare loop reads the way
// slabcast does.
const (
	recvBatch = 64
	recvSize  = ts.PacketSize * 48
)

// bareReceiver is the machine's limit: recvmmsg into a preallocated batch,
// 64 datagrams a call, on an epoll wake-up, counting and discarding.
type bareReceiver struct {
	conn   *nic.Conn
	poller *nic.Poller
	got    atomic.Uint64
	stop   atomic.Bool
	done   chan error
}

func newBareReceiver(src nic.Source, cpu, rcvbuf int) (*bareReceiver, error) {
	conn, err := nic.Listen(src, nic.Options{RecvBuffer: rcvbuf})
	if err != nil {
		return nil, fmt.Errorf("ingest: bare receiver: %w", err)
	}
	p, err := nic.NewPoller()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ingest: bare receiver: %w", err)
	}
	if err := p.Add(conn.Fd(), 0); err != nil {
		p.Close()
		conn.Close()
		return nil, fmt.Errorf("ingest: bare receiver: %w", err)
	}
	r := &bareReceiver{conn: conn, poller: p, done: make(chan error, 1)}
	ready := make(chan error, 1)
	go r.run(cpu, ready)
	if err := <-ready; err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *bareReceiver) run(cpu int, ready chan<- error) {
	// Ends locked: the pinned thread exits with the goroutine.
	runtime.LockOSThread()
	if err := nic.PinThread(cpu); err != nil {
		err = fmt.Errorf("ingest: bare receiver: %w", err)
		ready <- err
		r.done <- err
		return
	}
	ready <- nil
	b := nic.NewBatch(recvBatch, recvSize)
	tags := make([]uint32, 1)
	for !r.stop.Load() {
		n, err := r.poller.Wait(tags, 100*time.Millisecond)
		if err != nil {
			r.done <- err
			return
		}
		if n == 0 {
			continue
		}
		for {
			k, err := r.conn.ReadBatch(b)
			if err != nil {
				r.done <- err
				return
			}
			r.got.Add(uint64(k))
			if k < recvBatch {
				break
			}
		}
	}
	r.done <- nil
}

func (r *bareReceiver) counts() (uint64, uint64) {
	d, err := bpf.SocketDrops(r.conn.Fd())
	if err != nil {
		d = uint64(r.conn.Drops())
	}
	return r.got.Load(), d
}

func (r *bareReceiver) settle() time.Duration { return 0 }

func (r *bareReceiver) extra() (pipeline.Stats, bool) { return pipeline.Stats{}, false }

func (r *bareReceiver) close() error {
	r.stop.Store(true)
	r.poller.Wake()
	err := <-r.done
	r.poller.Close()
	if e := r.conn.Close(); err == nil {
		err = e
	}
	return err
}

// pipelineReceiver is slabcast's receive path: a one-core pipeline with one
// stream on the group.
type pipelineReceiver struct {
	p    *pipeline.Pipeline
	name string
}

const streamName = "bench"

func newPipelineReceiver(url string, cpu, rcvbuf int, memory int64, noFilter bool, logf func(string, ...any)) (*pipelineReceiver, error) {
	p, err := pipeline.New(pipeline.Options{CPUs: []int{cpu}, Memory: memory, NoFilter: noFilter, Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	err = p.Start(config.Stream{
		Name:            streamName,
		SegmentDuration: 2 * time.Second,
		SegmentCount:    6,
		SourceTimeout:   10 * time.Second,
		Inputs:          []config.Input{{URL: url, RecvBuffer: rcvbuf}},
	})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &pipelineReceiver{p: p, name: streamName}, nil
}

func (r *pipelineReceiver) stats() pipeline.Stats {
	if s := r.p.Lookup(r.name); s != nil {
		return s.Stats()
	}
	return pipeline.Stats{}
}

func (r *pipelineReceiver) counts() (uint64, uint64) {
	st := r.stats()
	return st.Count[pipeline.Datagrams], st.Count[pipeline.KernelDrops]
}

func (r *pipelineReceiver) settle() time.Duration { return 250 * time.Millisecond }

func (r *pipelineReceiver) extra() (pipeline.Stats, bool) { return r.stats(), true }

func (r *pipelineReceiver) close() error {
	r.p.Close()
	return nil
}

var errNoTraffic = errors.New("ingest: the receiver got nothing; is lo carrying 224.0.0.0/4 (slabbench routes it when it makes the namespace; see make netns)?")
