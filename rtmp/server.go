// Package rtmp takes RTMP publishers into live streams: ffmpeg's
// `-f flv rtmp://HOST/live/NAME`, and OBS's server `rtmp://HOST/live` with
// stream key NAME. Each publisher's access units go through a ts.Muxer into
// the stream's publish slot (pipeline.Publisher), so the segmenter, the
// slabs and every output see MPEG-TS as from any other source.
//
// The RTMP protocol itself (handshake, chunk streams, AMF commands, FLV and
// enhanced-RTMP track headers) is github.com/bluenviron/gortmplib, pinned
// at v1.0.1: MediaMTX's, kept up with the encoders in the field; writing
// it again would only add bugs. It has no timeouts of its own and reads as
// much as a peer claims to send, so every read here runs under a deadline,
// a connection may read only a small budget of bytes before it is a
// publisher we accepted, and the connections at once are capped.
package rtmp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/slabcast/slabcast/internal/logcap"
	"github.com/slabcast/slabcast/pipeline"
)

// Streams is what the server needs of the pipeline: the running stream of a
// name.
type Streams interface {
	Lookup(name string) *pipeline.Stream
}

const (
	// handshakeTimeout bounds everything from accepting a connection to
	// a publish command we accept; probeTimeout then the track headers
	// (gortmplib reads about two seconds of media to find the tracks).
	handshakeTimeout = 10 * time.Second
	probeTimeout     = 15 * time.Second
	// handshakeBudget is the most a connection may send before it is a
	// publisher we accepted: the handshake is 3 KB and the commands a few
	// hundred bytes, so a peer that sends more is not publishing.
	handshakeBudget = 256 << 10
	// DefaultMaxConns caps the RTMP connections at once; more are closed
	// at once and counted (refused, "full").
	DefaultMaxConns = 256
	// maxStall is the longest a publisher may send nothing when its stream
	// never times out its source (source_timeout false).
	maxStall = time.Minute
)

// Server accepts RTMP publishers.
type Server struct {
	streams  Streams
	logf     func(string, ...any)
	limited  *logcap.Limiter
	maxConns int

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	lns    []net.Listener
	closed bool
	wg     sync.WaitGroup
}

// New makes a server that publishes into streams and logs through logf.
func New(streams Streams, logf func(string, ...any)) *Server {
	return &Server{streams: streams, logf: logf, limited: logcap.NewLimiter(logf, 10*time.Second, 256),
		maxConns: DefaultMaxConns, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections on ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if !s.track(nc) {
			pipeline.CountRefused("rtmp", "full")
			s.limited.Logf("full", "rtmp: connections refused at the limit",
				"rtmp: %d connections open: refusing %s", s.maxConns, peerOf(nc))
			nc.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc)
			s.handle(nc)
		}()
	}
}

// track admits nc if the server is open and under its cap.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= s.maxConns {
		return false
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(nc net.Conn) {
	nc.Close()
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

// Close stops the listeners, ends every session and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.limited.Close()
}

// refuse counts and logs (bounded) a publisher refused for reason.
func (s *Server) refuse(peer, reason, format string, args ...any) {
	pipeline.CountRefused("rtmp", reason)
	s.limited.Logf(reason+" "+peer, "rtmp: publishers refused ("+reason+") from "+peer, format, args...)
}

// handle runs one connection: handshake, the publish request, the tracks,
// then media until the publisher stops, stalls or the stream goes away.
func (s *Server) handle(raw net.Conn) {
	peer := peerOf(raw)
	defer func() {
		// Whatever a peer sends, it ends this connection only.
		if v := recover(); v != nil {
			pipeline.CountEnded("rtmp", "error")
			s.logf("rtmp: %s: connection ended by a fault reading it: %s", peer, logcap.Text(fmt.Sprint(v), 300))
		}
	}()
	nc := &budgetConn{Conn: raw, budget: handshakeBudget}
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	sc := &gortmplib.ServerConn{RW: nc}
	if err := sc.Initialize(); err != nil {
		s.refuse(peer, "protocol", "rtmp: %s: handshake: %s", peer, logcap.Text(err.Error(), 200))
		return
	}
	if err := sc.AcceptConn(); err != nil {
		s.refuse(peer, "protocol", "rtmp: %s: before publish: %s", peer, logcap.Text(err.Error(), 200))
		return
	}
	if !sc.Publish {
		sc.RejectAction()
		s.refuse(peer, "play", "rtmp: %s: wants to play %s: slabcast plays over HTTP only (HLS, /mpegts)",
			peer, logcap.Text(sc.URL.Path, 200))
		return
	}
	app, key, q := SplitURL(sc.URL)
	st, name := s.lookup(app, key)
	if st == nil {
		sc.RejectAction()
		s.refuse(peer, "no_stream", "rtmp: %s: publish to %s: no such stream", peer, logcap.Text(strings.Trim(app+"/"+key, "/"), 200))
		return
	}
	token := q.Get("password")
	if token == "" {
		token = q.Get("token")
	}
	pub, err := st.Publish(token, peer, "rtmp")
	if err != nil {
		sc.RejectAction()
		s.refuse(peer, pipeline.RefusalReason(err), "rtmp: %s: publish to %s refused: %s", peer, name, logcap.Text(err.Error(), 200))
		return
	}
	nc.budget = -1 // a publisher now: gortmplib's own limits bound each message
	why := s.session(nc, sc, pub, st, name, peer)
	pipeline.CountEnded("rtmp", why)
}

// lookup finds the stream a publish names: the whole path first
// ("live/studio" is a stream name too), then the key alone, as OBS's
// server URL plus stream key and ffmpeg's rtmp://HOST/live/NAME both mean
// stream NAME.
func (s *Server) lookup(app, key string) (*pipeline.Stream, string) {
	if full := strings.Trim(app+"/"+key, "/"); full != "" {
		if st := s.streams.Lookup(full); st != nil {
			return st, full
		}
	}
	if key != "" {
		if st := s.streams.Lookup(key); st != nil {
			return st, key
		}
	}
	return nil, ""
}

// session reads the publisher's media into pub until it ends and says why
// (one of pipeline.EndReasons).
func (s *Server) session(nc *budgetConn, sc *gortmplib.ServerConn, pub *pipeline.Publisher, st *pipeline.Stream, name, peer string) string {
	defer pub.Close()
	// The stream going away (removed, reloaded, the daemon stopping) ends
	// the session: closing the connection ends the blocked read.
	stop := make(chan struct{})
	defer close(stop)
	var stopped atomic.Bool
	go func() {
		select {
		case <-pub.Done():
			stopped.Store(true) // before the close that ends the read
			nc.Close()
		case <-stop:
		}
	}()
	end := func(err error) string {
		var why string
		switch {
		case stopped.Load():
			why = "stopped"
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
			why = "eof"
		case errors.Is(err, os.ErrDeadlineExceeded):
			why = "stalled"
		default:
			why = "error"
		}
		if why == "error" || why == "stalled" {
			s.logf("stream %s: rtmp publisher %s: %s: %s", name, peer, why, logcap.Text(err.Error(), 200))
		}
		return why
	}
	r := &gortmplib.Reader{Conn: sc}
	nc.SetDeadline(time.Now().Add(probeTimeout))
	if err := r.Initialize(); err != nil {
		return end(err)
	}
	in, err := newIngest(r, pub.WriteTS, func(format string, args ...any) {
		s.logf("stream %s: rtmp publisher %s: "+format, append([]any{name, peer}, args...)...)
	})
	if err != nil {
		return end(err)
	}
	stall := st.Config().SourceTimeout
	if stall <= 0 || stall > maxStall {
		stall = maxStall
	}
	defer in.mux.Flush() // the last access unit's packets
	for {
		nc.SetDeadline(time.Now().Add(stall))
		if err := r.Read(); err != nil {
			return end(err)
		}
		if in.err != nil {
			return end(in.err)
		}
	}
}

// SplitURL takes the URL gortmplib makes of a publish (tcUrl, then "/" and
// the stream key) apart into the application (the path before the key),
// the key, and the query, wherever the publisher put it: on the key
// (rtmp://h/live/key?password=x, or OBS's key "key?password=x") or on the
// server URL, which gives tcUrl "rtmp://h/live?password=x" and so
// "…/live?password=x/key".
func SplitURL(u *url.URL) (app, key string, q url.Values) {
	path, rawQuery := u.Path, u.RawQuery
	if i := strings.IndexByte(rawQuery, '/'); i >= 0 {
		k, q2, _ := strings.Cut(rawQuery[i+1:], "?")
		path += "/" + k
		rawQuery = rawQuery[:i]
		if q2 != "" {
			rawQuery += "&" + q2
		}
	}
	path = strings.Trim(path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		app, key = path[:i], path[i+1:]
	} else {
		key = path
	}
	q, _ = url.ParseQuery(rawQuery)
	return app, key, q
}

// peerOf is the address a connection comes from, without its port.
func peerOf(nc net.Conn) string {
	a := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// budgetConn fails reads once a connection has read more than its budget
// (-1: no budget): a stranger cannot make gortmplib buffer megabytes of
// half-sent messages before it has said what it publishes.
type budgetConn struct {
	net.Conn
	budget int
}

var errBudget = errors.New("rtmp: too much data before a publish was accepted")

func (c *budgetConn) Read(b []byte) (int, error) {
	if c.budget == 0 {
		return 0, errBudget
	}
	if c.budget > 0 && len(b) > c.budget {
		b = b[:c.budget]
	}
	n, err := c.Conn.Read(b)
	if c.budget > 0 {
		c.budget -= n
	}
	return n, err
}
