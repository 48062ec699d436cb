package srt

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/slabcast/slabcast/internal/logcap"
	"github.com/slabcast/slabcast/pipeline"
)

// Streams is what the server needs of the pipeline.
type Streams interface {
	Lookup(name string) *pipeline.Stream
}

const (
	// DefaultMaxConns caps SRT publishers and requests being decided at
	// once; more are rejected (overload) and counted.
	DefaultMaxConns = 256
	// maxStall is the longest a publisher may send nothing when its
	// stream never times out its source.
	maxStall = time.Minute
	// latency is the receiver's SRT latency: what it waits for a lost
	// packet to be sent again. ffmpeg's default is 120 ms; the larger of
	// the two sides' wins.
	latency = 200 * time.Millisecond
)

// Server takes SRT publishers on its listeners.
type Server struct {
	streams Streams
	logf    func(string, ...any)
	limited *logcap.Limiter

	mu     sync.Mutex
	lns    []gosrt.Listener
	conns  map[gosrt.Conn]struct{}
	closed bool
	busy   atomic.Int32 // requests being decided and sessions running
	wg     sync.WaitGroup
}

// New makes a server that publishes into streams and logs through logf.
func New(streams Streams, logf func(string, ...any)) *Server {
	return &Server{streams: streams, logf: logf, limited: logcap.NewLimiter(logf, 10*time.Second, 256),
		conns: map[gosrt.Conn]struct{}{}}
}

// config is the SRT configuration of publisher sessions.
func config() gosrt.Config {
	c := gosrt.DefaultConfig()
	c.ReceiverLatency = latency
	c.PeerIdleTimeout = 10 * time.Second // no packet at all, keepalives included
	return c
}

// Listen binds addr (UDP) and serves it until Close.
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := gosrt.Listen("srt", addr, config())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, errors.New("srt: server closed")
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serve(ln)
	}()
	return ln.Addr(), nil
}

// serve runs the listener's accept loop, which also drives the handshakes
// (gosrt answers them from inside Accept2): each request is decided on a
// goroutine of its own, so an on_publish backend taking seconds holds up
// nobody else.
func (s *Server) serve(ln gosrt.Listener) {
	for {
		req, err := ln.Accept2()
		if err != nil {
			if errors.Is(err, gosrt.ErrListenerClosed) {
				return
			}
			s.limited.Logf("accept", "srt: accept errors", "srt: accept: %s", logcap.Text(err.Error(), 200))
			continue
		}
		if s.busy.Add(1) > DefaultMaxConns {
			s.busy.Add(-1)
			req.Reject(gosrt.REJX_OVERLOAD)
			s.refuse(peerOf(req.RemoteAddr()), "full", "srt: %d sessions at once: refusing %s", DefaultMaxConns, peerOf(req.RemoteAddr()))
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.busy.Add(-1)
			s.decide(req)
		}()
	}
}

// refuse counts and logs (bounded) a publisher refused for reason.
func (s *Server) refuse(peer, reason, format string, args ...any) {
	pipeline.CountRefused("srt", reason)
	s.limited.Logf(reason+" "+peer, "srt: publishers refused ("+reason+") from "+peer, format, args...)
}

// decide accepts or rejects one request, and runs the session it accepts.
func (s *Server) decide(req gosrt.ConnRequest) {
	peer := peerOf(req.RemoteAddr())
	id := ParseStreamID(req.StreamId())
	if id.Mode != "publish" {
		req.Reject(gosrt.REJX_BAD_MODE)
		s.refuse(peer, "play", "srt: %s: stream id %q asks to %s: slabcast takes publishers over SRT and plays over HTTP",
			peer, logcap.Text(req.StreamId(), 200), logcap.Text(id.Mode, 20))
		return
	}
	st := s.streams.Lookup(id.Name)
	if st == nil {
		req.Reject(gosrt.REJX_NOTFOUND)
		s.refuse(peer, "no_stream", "srt: %s: publish to %s: no such stream", peer, logcap.Text(id.Name, 200))
		return
	}
	password := id.Password
	if req.IsEncrypted() {
		// The passphrase is the stream's password: a caller that has it
		// has proved it, and one that has not cannot be read.
		want := st.Config().Password
		if want == "" || req.SetPassphrase(want) != nil {
			req.Reject(gosrt.REJ_BADSECRET)
			s.refuse(peer, "password", "srt: %s: publish to %s refused: the passphrase is not the stream's password", peer, id.Name)
			return
		}
		password = want
	}
	pub, err := st.Publish(password, peer, "srt")
	if err != nil {
		code := gosrt.REJX_FORBIDDEN
		switch pipeline.RefusalReason(err) {
		case "password":
			code = gosrt.REJX_UNAUTHORIZED
		case "busy":
			code = gosrt.REJX_CONFLICT
		}
		req.Reject(code)
		s.refuse(peer, pipeline.RefusalReason(err), "srt: %s: publish to %s refused: %s", peer, id.Name, logcap.Text(err.Error(), 200))
		return
	}
	conn, err := req.Accept()
	if err != nil {
		pub.Close()
		s.refuse(peer, "protocol", "srt: %s: publish to %s: %s", peer, id.Name, logcap.Text(err.Error(), 200))
		return
	}
	if !s.track(conn) {
		conn.Close()
		pub.Close()
		pipeline.CountEnded("srt", "stopped")
		return
	}
	defer s.untrack(conn)
	stall := st.Config().SourceTimeout
	if stall <= 0 || stall > maxStall {
		stall = maxStall
	}
	why, err := copySession(conn, pub, stall)
	pub.Close()
	pipeline.CountEnded("srt", why)
	if why == "stalled" || why == "error" {
		s.logf("stream %s: srt publisher %s: %s: %s", id.Name, peer, why, logcap.Text(fmt.Sprint(err), 200))
	}
}

// copySession hands what conn brings to pub until either ends, or conn
// brings nothing for stall, and says why it ended (pipeline.EndReasons).
func copySession(conn gosrt.Conn, pub *pipeline.Publisher, stall time.Duration) (string, error) {
	end, err := copyFrom(conn, stall, pub.Done(), func(b []byte) error {
		_, err := pub.Write(b)
		return err
	})
	switch end {
	case endGone, endTaken:
		return "stopped", err
	case endStalled:
		return "stalled", fmt.Errorf("nothing for %v", stall)
	case endEOF:
		return "eof", err
	}
	return "error", err
}

func (s *Server) track(c gosrt.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c gosrt.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the listeners, ends every session and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.limited.Close()
}

func peerOf(a net.Addr) string {
	if a == nil {
		return "?"
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}
