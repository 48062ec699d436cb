package srt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/slabcast/slabcast/ts"
)

// Error says why an srt:// input's session ended, by reason for the
// counters: "connect" (no connection, or the sender rejected us), "read"
// (the session failed, stalled or ended).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string      { return e.Err.Error() }
func (e *Error) Unwrap() error      { return e.Err }
func (e *Error) PullReason() string { return e.Reason }

// Input is an srt:// input: the URL (srt://HOST:PORT, with ?mode=caller,
// the default, or ?mode=listener, and SRT's own keys: streamid,
// passphrase, latency in milliseconds, …) and the stream id and
// passphrase given as input options, which win over the URL's.
type Input struct {
	URL        string
	StreamID   string
	Passphrase string
}

// Check validates an srt:// input URL as Pull reads it.
func Check(input string) error {
	_, _, _, err := parse(Input{URL: input})
	return err
}

// parse reads in into the address, whether to listen, and the SRT
// configuration.
func parse(in Input) (addr string, listen bool, c gosrt.Config, err error) {
	u, err := url.Parse(in.URL)
	if err != nil {
		return "", false, c, err
	}
	if !strings.EqualFold(u.Scheme, "srt") || u.Opaque != "" || u.Port() == "" {
		return "", false, c, errors.New("srt: expected srt://HOST:PORT[?mode=caller|listener&streamid=…]")
	}
	q := u.Query()
	switch m := q.Get("mode"); m {
	case "", "caller":
	case "listener":
		listen = true
	default:
		return "", false, c, fmt.Errorf("srt: mode=%s: caller or listener", m)
	}
	q.Del("mode")
	c = gosrt.DefaultConfig()
	c.ReceiverLatency = latency
	c.PeerIdleTimeout = 10 * time.Second
	if len(q) > 0 {
		if err := c.UnmarshalQuery(q.Encode()); err != nil {
			return "", false, c, fmt.Errorf("srt: %w", err)
		}
	}
	if in.StreamID != "" {
		c.StreamId = in.StreamID
	}
	if in.Passphrase != "" {
		c.Passphrase = in.Passphrase
	}
	if err := c.Validate(); err != nil {
		return "", false, c, fmt.Errorf("srt: %w", err)
	}
	host := u.Hostname()
	if listen && host == "" {
		host = "0.0.0.0"
	}
	if !listen && host == "" {
		return "", false, c, errors.New("srt: a caller needs a host to call")
	}
	return net.JoinHostPort(host, u.Port()), listen, c, nil
}

// Pull reads the input's TS into f, which calls emit with each run of
// whole packets, until ctx ends or emit fails. A caller's session that
// ends, or brings nothing for stall, ends the pull with an *Error, and the
// pipeline calls again after its backoff. A listener keeps its port and
// takes one sender at a time, each a new source (newSource), until ctx
// ends.
func Pull(ctx context.Context, in Input, stall time.Duration, f *ts.Framer, emit func([]byte) error, newSource func() error) error {
	addr, listen, c, err := parse(in)
	if err != nil {
		return &Error{"connect", err}
	}
	if listen {
		return pullListen(ctx, addr, c, stall, f, emit, newSource)
	}
	conn, err := dial(ctx, addr, c)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{"connect", err}
	}
	defer conn.Close()
	return read(ctx, conn, stall, f, emit)
}

// dial calls addr, giving up when ctx ends.
func dial(ctx context.Context, addr string, c gosrt.Config) (gosrt.Conn, error) {
	type result struct {
		conn gosrt.Conn
		err  error
	}
	r := make(chan result, 1)
	go func() {
		conn, err := gosrt.Dial("srt", addr, c)
		r <- result{conn, err}
	}()
	select {
	case x := <-r:
		return x.conn, x.err
	case <-ctx.Done():
		go func() {
			if x := <-r; x.conn != nil {
				x.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// pullListen waits on addr for a caller whose stream id is the input's
// (any, when the input names none), reads it, and waits for the next;
// each sender after the first is a new source.
func pullListen(ctx context.Context, addr string, c gosrt.Config, stall time.Duration, f *ts.Framer,
	emit func([]byte) error, newSource func() error) error {
	want, pass := c.StreamId, c.Passphrase
	c.StreamId, c.Passphrase = "", ""
	ln, err := gosrt.Listen("srt", addr, c)
	if err != nil {
		return &Error{"connect", err}
	}
	defer ln.Close()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	reqs := make(chan gosrt.ConnRequest)
	go func() {
		for {
			req, err := ln.Accept2()
			if err != nil {
				close(reqs)
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				req.Reject(gosrt.REJ_CLOSE)
			}
		}
	}()
	// One sender at a time; a new caller with the right id takes over
	// from the one before (an encoder that restarted calls again before
	// its old session has timed out).
	var cur gosrt.Conn
	sessions := make(chan error, 1)
	first := true
	// ended takes the end of the running session: its last packet goes on;
	// an error that is not the session's own (ctx, emit) ends the pull.
	ended := func(err error) error {
		cur = nil
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		return f.Flush(emit)
	}
	for {
		select {
		case <-ctx.Done():
			if cur != nil {
				cur.Close()
				<-sessions
			}
			return ctx.Err()
		case req, ok := <-reqs:
			if !ok {
				return ctx.Err()
			}
			switch {
			case want != "" && req.StreamId() != want:
				req.Reject(gosrt.REJX_NOTFOUND)
				continue
			case req.IsEncrypted() && (pass == "" || req.SetPassphrase(pass) != nil):
				req.Reject(gosrt.REJ_BADSECRET)
				continue
			case !req.IsEncrypted() && pass != "":
				req.Reject(gosrt.REJ_UNSECURE)
				continue
			}
			conn, err := req.Accept()
			if err != nil {
				continue
			}
			if cur != nil {
				cur.Close()
				if err := ended(<-sessions); err != nil {
					conn.Close()
					return err
				}
			}
			if !first {
				if err := newSource(); err != nil {
					conn.Close()
					return err
				}
			}
			first = false
			cur = conn
			go func() {
				defer conn.Close()
				sessions <- read(ctx, conn, stall, f, emit)
			}()
		case err := <-sessions:
			// The sender went away: the port waits for the next.
			if err := ended(err); err != nil {
				return err
			}
		}
	}
}

// read hands what conn brings to f until ctx ends, emit fails, or conn
// ends or brings nothing for stall.
func read(ctx context.Context, conn gosrt.Conn, stall time.Duration, f *ts.Framer, emit func([]byte) error) error {
	end, err := copyFrom(conn, stall, ctx.Done(), func(b []byte) error { return f.Feed(b, emit) })
	switch end {
	case endGone:
		return ctx.Err()
	case endTaken:
		return err
	case endStalled:
		return &Error{"read", fmt.Errorf("srt: nothing for %v", stall)}
	case endEOF:
		return &Error{"read", errors.New("srt: the sender ended the session")}
	}
	return &Error{"read", err}
}

// How a session ended (copyFrom).
type ending int

const (
	endEOF     ending = iota // the peer closed it
	endStalled               // nothing came for the stall time
	endGone                  // the other side went away (gone was closed)
	endTaken                 // take failed
	endError                 // the session failed
)

// copyFrom hands each payload conn reads to take until conn ends. gosrt
// has no read deadline, so a watchdog closes conn when a read has waited
// stall, or when gone is closed; copyFrom says which ended it, with the
// error of take or of the session.
func copyFrom(conn gosrt.Conn, stall time.Duration, gone <-chan struct{}, take func([]byte) error) (ending, error) {
	var stalled, left atomic.Bool
	last := atomic.Int64{}
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(min(stall/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-gone:
				left.Store(true)
				conn.Close()
				return
			case <-t.C:
				if time.Since(time.Unix(0, last.Load())) > stall {
					stalled.Store(true)
					conn.Close()
					return
				}
			}
		}
	}()
	buf := make([]byte, gosrt.MAX_PAYLOAD_SIZE)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			if terr := take(buf[:n]); terr != nil {
				return endTaken, terr
			}
		}
		if err != nil {
			switch {
			case left.Load():
				return endGone, err
			case stalled.Load():
				return endStalled, err
			case errors.Is(err, io.EOF):
				return endEOF, err
			}
			return endError, err
		}
	}
}
