package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
)

// Error says why an rtmp:// input's session ended, by reason for the
// counters: "connect" (no connection, or the server refused the play),
// "read" (the session failed, stalled or ended), "not_ts" (no track
// slabcast carries).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string      { return e.Err.Error() }
func (e *Error) Unwrap() error      { return e.Err }
func (e *Error) PullReason() string { return e.Reason }

// Check validates an rtmp:// input URL: rtmp://HOST[:PORT]/APP/KEY.
func Check(input string) error {
	u, err := url.Parse(input)
	if err != nil {
		return fmt.Errorf("rtmp: %w", err)
	}
	if u.Scheme != "rtmp" || u.Hostname() == "" || strings.Trim(u.Path, "/") == "" {
		return errors.New("rtmp: expected rtmp://HOST[:PORT]/APP/STREAM")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("rtmp: port %s is not 1..65535", p)
		}
	}
	return nil
}

// Pull plays an rtmp:// input (Flussonic's `input rtmp://…`: another
// server's stream) and hands its media, muxed to TS, to emit until ctx
// ends, emit fails, or the session ends or brings nothing for stall.
func Pull(ctx context.Context, input string, stall time.Duration, emit func([]byte) error, logf func(string, ...any)) error {
	u, err := url.Parse(input)
	if err != nil {
		return &Error{"connect", err}
	}
	stall = min(max(stall, 2*time.Second), time.Minute)
	c := &gortmplib.Client{URL: playURL(u), Publish: false}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	err = c.Initialize(dctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{"connect", fmt.Errorf("rtmp: %w", err)}
	}
	defer c.Close()
	nc := c.NetConn()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			nc.Close()
		case <-stop:
		}
	}()
	r := &gortmplib.Reader{Conn: c}
	nc.SetDeadline(time.Now().Add(probeTimeout))
	if err := r.Initialize(); err != nil {
		return readError(ctx, err)
	}
	in, err := newIngest(r, emit, logf)
	if err != nil {
		return &Error{"not_ts", err}
	}
	defer in.mux.Flush()
	for {
		nc.SetDeadline(time.Now().Add(stall))
		if err := r.Read(); err != nil {
			return readError(ctx, err)
		}
		if in.err != nil {
			return in.err // emit failed: the stream is done with this input
		}
	}
}

func readError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return &Error{"read", errors.New("rtmp: the server ended the stream")}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &Error{"read", errors.New("rtmp: nothing arrived in time")}
	}
	return &Error{"read", fmt.Errorf("rtmp: %w", err)}
}

// playURL puts an input URL in the form gortmplib's client takes, the
// stream key in the fragment: the application is the path's first element
// and the key the rest, with the query (librtmp's and ffmpeg's reading of
// rtmp://HOST/APP/STREAM, and Flussonic's names with slashes:
// rtmp://HOST/static/news/hd plays news/hd of application static).
func playURL(u *url.URL) *url.URL {
	if u.Fragment != "" {
		return u // the caller said where the key starts
	}
	v := *u
	path := strings.Trim(u.Path, "/")
	app, key, ok := strings.Cut(path, "/")
	if !ok {
		return &v
	}
	if v.RawQuery != "" {
		key += "?" + v.RawQuery
		v.RawQuery = ""
	}
	v.Path, v.RawPath, v.Fragment = "/"+app, "", key
	return &v
}
