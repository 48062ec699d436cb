package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/slabcast/slabcast/httpts"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// Pull inputs: a source the stream fetches over a connection (tshttp://
// now), not a socket it listens on. A pipe stands in for the socket: the
// worker polls and reads it like one, and a goroutine of the input's own
// fills it from the connection, reconnecting with backoff. The segmenter,
// failover and the counters see datagrams as from UDP.

// pipeSlots is how many datagrams a pull input's pipe queues: 256 × 1316
// bytes, a third of a second of 8 Mbit/s.
const pipeSlots = 256

// checkInput validates an input URL as the pipeline reads it.
func checkInput(u string) error {
	if isPublishSlot(u) {
		return nil
	}
	if httpts.Reads(u) {
		return httpts.Check(u)
	}
	_, err := nic.ParseURL(u)
	return err
}

// CheckInput validates an input URL: udp:// and rtp:// (package nic),
// tshttp://, http:// and hls:// (package httpts). It is config.Options.CheckInput
// for the daemon.
func CheckInput(u string) error { return checkInput(u) }

// pull feeds input i of s from its URL until the stream stops or this
// start (gen) is over, or the worker closes the input's pipe.
func (p *Pipeline) pull(s *Stream, i int, gen uint64, current func() bool) {
	url := s.cfg.Inputs[i].URL
	pipe, err := nic.NewPipe(pipeSlots, 7*ts.PacketSize)
	if err != nil {
		p.opt.Logf("stream %s: input %s: %v", s.cfg.Name, url, err)
		return
	}
	ok := false
	if current() {
		s.w.do(func() { ok = s.w.attach(s, i, gen, pipe, nil) })
	}
	if !ok {
		pipe.Close()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-pipe.Done():
		case <-s.stopped:
		}
		cancel()
	}()
	p.opt.Logf("stream %s: pulling %s", s.cfg.Name, url)
	stall := s.inputs[i].timeout
	backoff := time.Second
	for try := 0; ; try++ {
		if try > 0 {
			// What comes on a new connection is a new source: tell the
			// segmenter (input.take).
			if pipe.Write(nil) != nil {
				return
			}
		}
		f := ts.NewFramer(7)
		began := time.Now()
		var err error
		if _, hls := httpts.HLSURL(url); hls {
			err = httpts.PullHLS(ctx, url, stall, f, pipe.Write, func() error { return pipe.Write(nil) })
		} else {
			err = httpts.Pull(ctx, url, stall, f, pipe.Write)
		}
		s.c.add(Skipped, f.Skipped())
		if ctx.Err() != nil || errors.Is(err, nic.ErrPipeClosed) {
			return
		}
		var he *httpts.Error
		if errors.As(err, &he) {
			s.c.add(pullErrors[he.Reason], 1)
		}
		if time.Since(began) > 30*time.Second {
			backoff = time.Second // it ran a while: this is a new outage
		}
		p.opt.Logf("stream %s: input %s: %v (retrying in %v)", s.cfg.Name, url, err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

var pullErrors = map[string]Counter{"connect": ErrConnect, "status": ErrStatus, "read": ErrRead, "not_ts": ErrNotTS}
