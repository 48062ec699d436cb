package ctl

// The control socket server and client. The server gives each connection its
// own goroutine, bounds how many there are, how long a request line is, how
// long a client may stay silent or half-way through a line and how long an
// answer may take to be read, so no client can hold up another one, the
// backend or the daemon.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/config"
)

// Defaults of the Server's limits.
const (
	DefaultIdleTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxConns     = 256
)

// SocketMode is the permission of the control socket: the owner and the
// group may connect.
const SocketMode = 0o660

// ErrServerClosed is returned by Serve and Listen after Close.
var ErrServerClosed = errors.New("ctl: server closed")

// Backend is what the daemon provides to the control socket. Every method
// is called from the server's connection goroutines, possibly at the same
// time, so it must be safe for concurrent use; the daemon serialises
// changes itself. An error is answered to the client as it is.
type Backend interface {
	List() []StreamStatus
	Show(name string) (config.Stream, StreamStatus, error)
	// Add starts a new stream and persists it; it fails if the name exists.
	Add(s config.Stream) error
	// Update replaces the settings of an existing stream and persists them.
	Update(s config.Stream) error
	Remove(name string) error
	// Stats gives one stream's counters, or every stream's for name "".
	Stats(name string) ([]StreamStats, error)
	Reload() (config.Change, error)
}

// Server answers the control protocol on one or more listeners. Set its
// exported fields before Listen or Serve; zero values mean the defaults.
type Server struct {
	// IdleTimeout is how long a connection may wait for its next request
	// line, or between bytes of one: a client that sends nothing, or half
	// a line and stalls, is answered an error and closed.
	IdleTimeout time.Duration
	// WriteTimeout is how long writing one answer may take: a client that
	// does not read its answers is closed.
	WriteTimeout time.Duration
	// MaxConns is how many connections are served at once; one more is
	// answered an error and closed.
	MaxConns int

	b    Backend
	opt  config.Options
	logf func(string, ...any)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup // connection goroutines
	refused   int            // connections refused since the last log line
	refusedAt time.Time      // when that log line was written
}

// NewServer returns a server that answers with b and checks add and update
// requests with opt (the Options the daemon parses its config with). logf,
// if not nil, gets the server's own troubles (refused connections, accept
// errors); requests are the backend's to log.
func NewServer(b Backend, opt config.Options, logf func(string, ...any)) *Server {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Server{b: b, opt: opt, logf: logf,
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// Listen creates the control socket at path with ListenUnix and serves it
// until Close; then it returns ErrServerClosed.
func (s *Server) Listen(path string, gid int) error {
	l, err := ListenUnix(path, gid)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ListenUnix creates a unix stream socket at path with mode SocketMode, and
// group gid if gid >= 0. A socket file nobody listens on (left by a daemon
// that died) is replaced; a socket someone listens on, or a file that is not
// a socket, is an error. A missing parent directory is created (0755).
// Closing the listener removes the socket file.
func ListenUnix(path string, gid int) (*net.UnixListener, error) {
	if path == "" {
		return nil, errors.New("ctl: empty socket path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("ctl: %s exists and is not a socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("ctl: %s: another process is listening on it (is slabcast already running?)", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("ctl: %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ctl: remove stale socket: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	// The socket exists with the umask's mode until this chmod; the
	// directory it is in is what keeps strangers out meanwhile.
	err = os.Chmod(path, SocketMode)
	if err == nil && gid >= 0 {
		err = os.Chown(path, -1, gid)
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return l, nil
}

// Serve accepts connections on l until Close, which closes l; then it
// returns ErrServerClosed. Other accept errors (out of file descriptors)
// are logged and retried after a pause.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var pause time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("ctl: accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.logf("ctl: accept: %v; retrying in %v", err, pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		if err := s.track(c); err != nil {
			// A fresh connection's send buffer is empty: this write
			// does not block, the deadline is only a guard.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(errorLine(err))
			c.Close()
			continue
		}
		go s.serveConn(c)
	}
}

// Close stops every listener and connection and waits for the connection
// goroutines to end. A backend call under way finishes first.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track counts c in, or says why it may not be served.
func (s *Server) track(c net.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	switch {
	case s.closed:
		return ErrServerClosed
	case len(s.conns) >= maxConns:
		s.refused++
		if now := time.Now(); now.Sub(s.refusedAt) >= 10*time.Second { // a flood logs a line per 10 s
			s.logf("ctl: refused %d connections: %d are open", s.refused, len(s.conns))
			s.refused, s.refusedAt = 0, now
		}
		return fmt.Errorf("ctl: too many control connections (%d); try again later", maxConns)
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return nil
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// numConns is how many connections are being served.
func (s *Server) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) serveConn(c net.Conn) {
	defer s.untrack(c)
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	r := bufio.NewReaderSize(c, 4096)
	var line []byte // one request line; MaxLine+1 bytes at most
	for {
		line = line[:0]
		if cap(line) > 8192 {
			line = nil // a long line was an exception; do not keep its memory
		}
		c.SetReadDeadline(time.Now().Add(idle))
		var err error
		line, err = readLine(r, line)
		switch {
		case errors.Is(err, errLineTooLong):
			s.write(c, errorLine(fmt.Errorf("ctl: request line is longer than %d bytes; closing", MaxLine)))
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Nothing, or half a line: either way no request to answer.
			s.write(c, errorLine(fmt.Errorf("ctl: no complete request line for %v; closing", idle)))
			return
		case err != nil && !errors.Is(err, io.EOF):
			return // the connection failed
		}
		if req := bytes.TrimSpace(line); len(req) > 0 {
			if !s.write(c, s.handle(req)) {
				return
			}
		}
		if err != nil {
			return // end of input; its last line had no newline
		}
	}
}

var errLineTooLong = errors.New("ctl: line too long")

// readLine appends the next line of r to dst, newline included. At the end
// of input it returns what there is with io.EOF. A line longer than MaxLine
// bytes without its newline is errLineTooLong.
func readLine(r *bufio.Reader, dst []byte) ([]byte, error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(dst)+len(chunk) > MaxLine+1 || err != nil && len(dst)+len(chunk) > MaxLine {
			return dst, errLineTooLong
		}
		dst = append(dst, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return dst, err
		}
	}
}

// write sends one answer line, or reports that the client did not take it
// in time.
func (s *Server) write(c net.Conn, ans []byte) bool {
	wt := s.WriteTimeout
	if wt <= 0 {
		wt = DefaultWriteTimeout
	}
	c.SetWriteDeadline(time.Now().Add(wt))
	_, err := c.Write(ans)
	return err == nil
}

// handle answers one request line; the answer ends with a newline.
func (s *Server) handle(line []byte) []byte {
	ans, err := s.answer(line)
	if err != nil {
		return errorLine(err)
	}
	out, err := json.Marshal(ans)
	if err != nil {
		return errorLine(fmt.Errorf("ctl: encode answer: %w", err))
	}
	return append(out, '\n')
}

// Answers that always carry their payload, empty or not.
type (
	okAnswer struct {
		OK bool `json:"ok"`
	}
	listAnswer struct {
		OK      bool           `json:"ok"`
		Streams []StreamStatus `json:"streams"`
	}
	streamAnswer struct {
		OK     bool          `json:"ok"`
		Stream StreamJSON    `json:"stream"`
		Status *StreamStatus `json:"status,omitempty"`
	}
	statsAnswer struct {
		OK    bool          `json:"ok"`
		Stats []StreamStats `json:"stats"`
	}
	changeAnswer struct {
		OK     bool       `json:"ok"`
		Change ChangeJSON `json:"change"`
	}
)

func (s *Server) answer(line []byte) (any, error) {
	req, err := ParseRequest(line)
	if err != nil {
		return nil, err
	}
	switch req.Cmd {
	case CmdList:
		streams := s.b.List()
		if streams == nil {
			streams = []StreamStatus{}
		}
		return listAnswer{OK: true, Streams: streams}, nil
	case CmdShow:
		if err := CheckName(req.Name); err != nil {
			return nil, err
		}
		st, status, err := s.b.Show(req.Name)
		if err != nil {
			return nil, err
		}
		return streamAnswer{OK: true, Stream: StreamToJSON(st), Status: &status}, nil
	case CmdAdd, CmdUpdate:
		st, err := StreamFromRequest(req, s.opt)
		if err != nil {
			return nil, err
		}
		if req.Cmd == CmdAdd {
			err = s.b.Add(st)
		} else {
			err = s.b.Update(st)
		}
		if err != nil {
			return nil, err
		}
		return streamAnswer{OK: true, Stream: StreamToJSON(st)}, nil
	case CmdRemove:
		if err := CheckName(req.Name); err != nil {
			return nil, err
		}
		if err := s.b.Remove(req.Name); err != nil {
			return nil, err
		}
		return okAnswer{OK: true}, nil
	case CmdStats:
		if req.Name != "" {
			if err := CheckName(req.Name); err != nil {
				return nil, err
			}
		}
		stats, err := s.b.Stats(req.Name)
		if err != nil {
			return nil, err
		}
		if stats == nil {
			stats = []StreamStats{}
		}
		return statsAnswer{OK: true, Stats: stats}, nil
	case CmdReload:
		ch, err := s.b.Reload()
		if err != nil {
			return nil, err
		}
		cj := ChangeJSON(ch)
		for _, l := range []*[]string{&cj.Added, &cj.Removed, &cj.Changed, &cj.Globals} {
			if *l == nil {
				*l = []string{}
			}
		}
		return changeAnswer{OK: true, Change: cj}, nil
	}
	panic("BUG: ctl: ParseRequest passed command " + config.Quote(req.Cmd))
}

// errorLine is the answer line for err.
func errorLine(err error) []byte {
	out, _ := json.Marshal(struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}{false, err.Error()}) // a struct of a bool and a string always encodes
	return append(out, '\n')
}

// Client is a connection to the control socket. It is not safe for
// concurrent use.
type Client struct {
	// Timeout bounds each Do, from sending the request to reading the
	// answer; 0 means no limit.
	Timeout time.Duration
	c       net.Conn
	r       *bufio.Reader
}

// Dial connects to the control socket at path. timeout bounds the connect
// and becomes the Client's Timeout.
func Dial(path string, timeout time.Duration) (*Client, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return &Client{Timeout: timeout, c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Do sends req and reads its answer. If the server answered {"ok":false}
// the error is a *RemoteError with its message, and the Response is
// returned too (its Raw for printing); the Client stays usable. After any
// other error the connection is in an unknown state: Close it.
func (c *Client) Do(req Request) (Response, error) {
	out, err := json.Marshal(req)
	if err != nil {
		return Response{}, fmt.Errorf("ctl: encode request: %w", err)
	}
	if len(out) > MaxLine {
		return Response{}, fmt.Errorf("ctl: request is longer than %d bytes", MaxLine)
	}
	var deadline time.Time
	if c.Timeout > 0 {
		deadline = time.Now().Add(c.Timeout)
	}
	c.c.SetDeadline(deadline)
	if _, err := c.c.Write(append(out, '\n')); err != nil {
		return Response{}, fmt.Errorf("ctl: send: %w", err)
	}
	line, err := c.readLine()
	if err != nil {
		return Response{}, err
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("ctl: malformed answer: %w", err)
	}
	resp.Raw = line
	if !resp.OK {
		msg := resp.Error
		if msg == "" {
			msg = "ctl: the server refused the request without saying why"
		}
		return resp, &RemoteError{Msg: msg}
	}
	return resp, nil
}

// readLine reads one answer line, without its newline.
func (c *Client) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		if len(line)+len(chunk) > maxAnswer {
			return nil, fmt.Errorf("ctl: answer is longer than %d MiB", maxAnswer>>20)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, errors.New("ctl: the server closed the connection without an answer")
		default:
			return nil, fmt.Errorf("ctl: read answer: %w", err)
		}
	}
}
