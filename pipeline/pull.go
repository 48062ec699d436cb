package pipeline

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/httpts"
	"github.com/slabcast/slabcast/internal/logcap"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// Pull inputs: a source the stream fetches over a connection (tshttp://,
// hls://, rtsp://, srt://, rtmp://), not a socket it listens on. A pipe stands in
// for the socket: the worker polls and reads it like one, and a goroutine
// of the input's own fills it from the connection, reconnecting with
// backoff. The segmenter, failover and the counters see datagrams as from
// UDP.

// pipeSlots is how many datagrams a pull input's pipe queues: 256 × 1316
// bytes, a third of a second of 8 Mbit/s.
const pipeSlots = 256

// isPulled reports whether an input URL is read by a pull (pull) rather
// than from a socket of its own (connect).
func isPulled(u string) bool {
	return httpts.Reads(u) || hasScheme(u, "rtsp") || hasScheme(u, "srt") || hasScheme(u, "rtmp")
}

func hasScheme(u, scheme string) bool {
	return len(u) > len(scheme)+3 && strings.EqualFold(u[:len(scheme)], scheme) && u[len(scheme):len(scheme)+3] == "://"
}

// checkInput validates an input URL as the pipeline reads it.
func checkInput(u string) error {
	switch {
	case isPublishSlot(u):
		return nil
	case httpts.Reads(u):
		return httpts.Check(u)
	case isPulled(u):
		_, err := url.Parse(u) // the daemon's CheckInput asks the protocol's package for the rest
		return err
	}
	_, err := nic.ParseURL(u)
	return err
}

// CheckInput validates an input URL: udp:// and rtp:// (package nic),
// tshttp://, http:// and hls:// (package httpts); rtsp://, srt:// and
// rtmp:// only as URLs (their packages check the rest). It is config.Options.CheckInput
// for the daemon.
func CheckInput(u string) error { return checkInput(u) }

// redact hides the password of an input URL in logs (rtsp://user:pw@…).
func redact(u string) string {
	if x, err := url.Parse(u); err == nil {
		return x.Redacted()
	}
	return u
}

// PullFunc reads one connection of pull input in: it hands whole TS
// packets to emit (through f, which frames a byte stream), calls
// newSource where a new source begins within the connection (a new
// segment list, a new sender), and returns when the connection ends,
// with an error that says why (one with a PullReason() string method is
// counted by that reason: connect, status, read, not_ts), or ctx's, or
// emit's.
type PullFunc func(ctx context.Context, in config.Input, stall time.Duration, f *ts.Framer, emit func([]byte) error, newSource func() error) error

// PullHTTP is the PullFunc of tshttp://, http:// and hls:// inputs.
func PullHTTP(ctx context.Context, in config.Input, stall time.Duration, f *ts.Framer, emit func([]byte) error, newSource func() error) error {
	if _, hls := httpts.HLSURL(in.URL); hls {
		return httpts.PullHLS(ctx, in.URL, stall, f, emit, newSource)
	}
	return httpts.Pull(ctx, in.URL, stall, f, emit)
}

// reasoned is a pull's error that says why, by reason for the counters.
type reasoned interface{ PullReason() string }

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
	p.opt.Logf("stream %s: pulling %s", s.cfg.Name, redact(url))
	stall := s.inputs[i].timeout
	pull := p.opt.Pull
	if pull == nil {
		pull = PullHTTP
	}
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
		err := pull(ctx, s.cfg.Inputs[i], stall, f, pipe.Write, func() error { return pipe.Write(nil) })
		s.c.add(Skipped, f.Skipped())
		if ctx.Err() != nil || errors.Is(err, nic.ErrPipeClosed) {
			return
		}
		var r reasoned
		if errors.As(err, &r) {
			if c, ok := pullErrors[r.PullReason()]; ok {
				s.c.add(c, 1)
			}
		}
		if time.Since(began) > 30*time.Second {
			backoff = time.Second // it ran a while: this is a new outage
		}
		p.opt.Logf("stream %s: input %s: %s (retrying in %v)", s.cfg.Name, redact(url), logcap.Text(err.Error(), 300), backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

var pullErrors = map[string]Counter{"connect": ErrConnect, "status": ErrStatus, "read": ErrRead, "not_ts": ErrNotTS}
