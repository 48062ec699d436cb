package pipeline

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// Publishing: a live stream (config `live NAME;`), or a stream with an
// `input publish://;`, has an input that nothing opens, its publish slot; a
// publisher that connects (HTTP PUT or POST of MPEG-TS now) takes it for as
// long as it sends. Its bytes go
// through a ts.Framer into a nic.Pipe attached to the stream's worker in
// that slot, as a pull input's do (pull.go), so the segmenter, failover
// and counters do not change. Each publish is a new source: a publisher
// that returns gives EXT-X-DISCONTINUITY.

// publishScheme names a live stream's publish slot among its inputs.
const publishScheme = "publish://"

// Errors of Publish.
var (
	ErrNotLive  = errors.New("pipeline: not a live stream")
	ErrBusy     = errors.New("pipeline: another publisher is active")
	ErrPassword = errors.New("pipeline: wrong password")
	ErrDenied   = errors.New("pipeline: the on_publish backend denied it")
)

// onPublishTimeout bounds an on_publish backend's answer; no answer in
// time is a refusal: a publisher is never let in because a backend is slow.
const onPublishTimeout = 5 * time.Second

var backendClient = &http.Client{Timeout: onPublishTimeout, Transport: &http.Transport{Proxy: nil}}

// askOnPublish asks the stream's on_publish backend, Flussonic's way: GET
// URL?name=&ip=&proto=&token=; 200 allows, anything else (403, an error,
// no answer within onPublishTimeout) denies.
func (s *Stream) askOnPublish(addr, protocol, token string) error {
	u, err := url.Parse(s.cfg.OnPublish)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDenied, err)
	}
	q := u.Query()
	q.Set("name", s.cfg.Name)
	q.Set("ip", addr)
	q.Set("proto", protocol)
	q.Set("token", token)
	u.RawQuery = q.Encode()
	resp, err := backendClient.Get(u.String())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDenied, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s", ErrDenied, resp.Status)
	}
	return nil
}

// PublisherInfo says who publishes to a live stream.
type PublisherInfo struct {
	Addr     string // IP address
	Protocol string // "http", "rtmp" or "srt"
	Since    time.Time
}

// Publisher returns who publishes to s now, if anyone.
func (s *Stream) Publisher() (PublisherInfo, bool) {
	if p := s.pubInfo.Load(); p != nil {
		return *p, true
	}
	return PublisherInfo{}, false
}

// Publisher is one publishing session of a live stream; Write takes the
// TS it sends, Close ends it.
type Publisher struct {
	s      *Stream
	in     *input
	pipe   *nic.Pipe
	framer *ts.Framer
	closed atomic.Bool
}

// Publish starts a publishing session if s is live, password is its
// password (when it has one) and no other publisher is active; addr and
// protocol say who publishes, for slabcast ctl.
func (s *Stream) Publish(password, addr, protocol string) (*Publisher, error) {
	slot := s.publishSlot()
	if slot < 0 {
		return nil, ErrNotLive
	}
	if s.cfg.Password != "" && !constantEqual(password, s.cfg.Password) {
		return nil, ErrPassword
	}
	if s.cfg.OnPublish != "" && !s.publishing.Load() {
		if err := s.askOnPublish(addr, protocol, password); err != nil {
			return nil, err
		}
	}
	if !s.publishing.CompareAndSwap(false, true) {
		return nil, ErrBusy
	}
	pipe, err := nic.NewPipe(pipeSlots, 7*ts.PacketSize)
	if err != nil {
		s.publishing.Store(false)
		return nil, err
	}
	ok := false
	s.w.do(func() { ok = s.w.attach(s, slot, s.gen.Load(), pipe, nil) })
	if !ok {
		pipe.Close()
		s.publishing.Store(false)
		return nil, errors.New("pipeline: the stream is stopping")
	}
	// What this publisher sends is a new source (input.take).
	if err := pipe.Write(nil); err != nil {
		s.detach(pipe)
		return nil, err
	}
	s.c.add(Publishes, 1)
	s.pubInfo.Store(&PublisherInfo{Addr: addr, Protocol: protocol, Since: time.Now()})
	s.logf("stream %s: publisher %s connected (%s)", s.cfg.Name, addr, protocol)
	return &Publisher{s: s, in: s.inputs[slot], pipe: pipe, framer: ts.NewFramer(7)}, nil
}

// Write takes the next bytes of the publisher's stream: any length, cut
// anywhere. It waits while the worker is behind (the publisher's TCP flow
// control then slows it) and fails once the session is closed.
func (p *Publisher) Write(b []byte) (int, error) {
	if err := p.framer.Feed(b, p.pipe.Write); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteTS takes whole packets, a run of at most seven (one datagram), as
// ts.Muxer emits them: framed already, they go straight to the stream.
func (p *Publisher) WriteTS(run []byte) error { return p.pipe.Write(run) }

// Done is closed when the session ends from the stream's side (the stream
// is removed).
func (p *Publisher) Done() <-chan struct{} { return p.pipe.Done() }

// Close ends the session and frees the publish slot.
func (p *Publisher) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.framer.Flush(p.pipe.Write)
	p.s.c.add(Skipped, p.framer.Skipped())
	// The publisher is gone, so its source ended: an empty datagram tells
	// the worker, which ends the segment at its last whole access unit now
	// rather than after source_timeout (input.take), and players get it at
	// once. What the publisher sent last is still queued: the worker takes
	// it before the slot closes (a fast publisher may be a whole queue
	// ahead).
	p.pipe.Write(nil)
	p.pipe.Drain(time.Second)
	p.s.detach(p.pipe)
	p.s.logf("stream %s: publisher gone", p.s.cfg.Name)
	return nil
}

// detach takes pipe out of the publish slot, if it is still there, and
// closes it.
func (s *Stream) detach(pipe *nic.Pipe) {
	s.w.do(func() {
		in := s.inputs[s.publishSlot()]
		if in.conn == reader(pipe) {
			s.w.unwatch(in)
			in.close()
		}
	})
	pipe.Close()
	s.pubInfo.Store(nil)
	s.publishing.Store(false)
}

// Publishing reports whether a publisher is active.
func (s *Stream) Publishing() bool { return s.publishing.Load() }

// IsLive reports whether s can be published to: a live stream, or one with
// an `input publish://;` (Flussonic's way of saying the same in a stream).
func (s *Stream) IsLive() bool { return s.publishSlot() >= 0 }

// publishSlot is the index of s's publish slot among its inputs, -1 if it
// has none.
func (s *Stream) publishSlot() int {
	for i, in := range s.cfg.Inputs {
		if isPublishSlot(in.URL) {
			return i
		}
	}
	return -1
}

func isPublishSlot(url string) bool { return strings.HasPrefix(strings.ToLower(url), publishScheme) }

// constantEqual compares secrets in time that does not depend on where
// they differ.
func constantEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return d == 0
}
