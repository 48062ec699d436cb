// Package httpts reads MPEG-TS over HTTP: the tshttp:// and http:// inputs
// that pull another server's endless TS (Flussonic's and slabcast's
// /NAME/mpegts, udpxy, an encoder's HTTP output). The body goes through a
// ts.Framer into whole-packet runs for the receive path; nothing in it is
// trusted: every read has a deadline, a body that is not TS is refused, and
// the caller's Framer bounds what is buffered.
package httpts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// HTTPURL returns the http:// URL an input reads, and whether the input is
// one of this package's: tshttp://HOST/PATH (Flussonic's name) or
// http://HOST/PATH.
func HTTPURL(input string) (string, bool) {
	scheme, rest, ok := strings.Cut(input, "://")
	if !ok {
		return "", false
	}
	switch strings.ToLower(scheme) {
	case "tshttp", "http":
		return "http://" + rest, true
	}
	return "", false
}

// Reads reports whether input is one of this package's: tshttp://,
// http:// or hls://.
func Reads(input string) bool {
	_, a := HTTPURL(input)
	_, b := HLSURL(input)
	return a || b
}

// Check validates an input URL of this package's.
func Check(input string) error {
	u, ok := HTTPURL(input)
	if !ok {
		u, ok = HLSURL(input)
	}
	if !ok {
		return fmt.Errorf("httpts: %s is not a tshttp://, http:// or hls:// URL", input)
	}
	p, err := url.Parse(u)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	if p.Host == "" || p.Hostname() == "" {
		return errors.New("httpts: expected SCHEME://HOST[:PORT]/PATH")
	}
	if p.User != nil {
		return errors.New("httpts: credentials in the URL are not supported")
	}
	return nil
}

// Error says why a pull ended, by reason for the counters: "connect" (no
// connection or no answer), "status" (an answer other than 200), "read"
// (the body failed, stalled or ended), "not_ts" (it is not MPEG-TS).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// PullReason is the reason, for the pipeline's counters.
func (e *Error) PullReason() string { return e.Reason }

// Reasons are the Error reasons, in the order the counters list them.
var Reasons = []string{"connect", "status", "read", "not_ts"}

// notTS is how much body may go by without a single packet before it is
// judged not MPEG-TS.
const notTS = 64 << 10

var client = &http.Client{
	Transport: &http.Transport{
		Proxy:                 nil, // a headend talks to its sources directly
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   1,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("httpts: more than 5 redirects")
		}
		return nil
	},
}

// Pull GETs input's URL and feeds its body to f, which calls emit with each
// run of whole packets, until ctx ends, emit fails, or the body fails or
// stalls: a read that brings nothing for stall ends the pull. It returns an
// *Error (or ctx's error, or emit's).
func Pull(ctx context.Context, input string, stall time.Duration, f *ts.Framer, emit func([]byte) error) error {
	u, ok := HTTPURL(input)
	if !ok {
		return &Error{"connect", fmt.Errorf("httpts: %s is not a tshttp:// or http:// URL", input)}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &Error{"connect", err}
	}
	req.Header.Set("User-Agent", "slabcast")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{"connect", err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{"status", fmt.Errorf("httpts: GET %s: %s", u, resp.Status)}
	}
	// A read that stalls ends the pull: the timer cancels the request.
	var stalled atomic.Bool
	t := time.AfterFunc(stall, func() { stalled.Store(true); cancel() })
	defer t.Stop()
	buf := make([]byte, 32<<10)
	framed := false
	var seen int
	emitted := func(run []byte) error { framed = true; return emit(run) }
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			t.Reset(stall)
			seen += n
			if ferr := f.Feed(buf[:n], emitted); ferr != nil {
				return ferr
			}
			if !framed && seen > notTS {
				return &Error{"not_ts", fmt.Errorf("httpts: GET %s: %d bytes and not one MPEG-TS packet", u, seen)}
			}
		}
		if err != nil {
			f.Flush(emit)
			switch {
			case stalled.Load():
				return &Error{"read", fmt.Errorf("httpts: GET %s: nothing for %v", u, stall)}
			case ctx.Err() != nil:
				return ctx.Err()
			case err == io.EOF:
				return &Error{"read", fmt.Errorf("httpts: GET %s: the body ended", u)}
			}
			return &Error{"read", fmt.Errorf("httpts: GET %s: %w", u, err)}
		}
	}
}
