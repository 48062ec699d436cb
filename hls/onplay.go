package hls

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/pipeline"
)

// Playback authorization (on_play, Flussonic's contract): each viewer
// session, a stream, a client address and the player's ?token=, is put to
// the stream's backend, GET URL?name=&proto=&ip=&token=&session_id=
// &request_type=new_session (update_session when it asks again): 200 allows
// for X-AuthDuration seconds (default 30), 403 denies, 302 sends the player
// to Location. Tokens never reach the log.

// PlayPolicy is the daemon's on_play configuration.
type PlayPolicy struct {
	// Backend is the on_play of streams that name none; "" for none.
	Backend string
	// AllowWhenDown lets new sessions in while the backend cannot be
	// asked; by default they are refused. Sessions the backend allowed
	// keep playing for DownGrace after their time runs out.
	AllowWhenDown bool
}

// Limits of playback authorization.
const (
	playTimeout     = 2 * time.Second  // one backend request
	playDefault     = 30 * time.Second // an allow without X-AuthDuration
	playDenyFor     = 5 * time.Second  // a denial or redirect is remembered this long
	playDownRetry   = 5 * time.Second  // after a failed request, the next try
	playDownGrace   = 5 * time.Minute  // an allowed session outlives a backend outage this long
	maxPlaySessions = 1 << 17          // remembered at once; past that, expired ones go first
)

// SetPlayPolicy sets the global on_play policy (at start and on reload).
func (s *Server) SetPlayPolicy(p PlayPolicy) { s.play.policy.Store(&p) }

type playAuth struct {
	policy   atomic.Pointer[PlayPolicy]
	client   *http.Client
	mu       sync.Mutex
	sessions map[playKey]*playSession
	denied   atomic.Uint64 // answers 403 for on_play
}

type playKey struct {
	stream, token string
	ip            netip.Addr
}

type playSession struct {
	mu       sync.Mutex
	id       string
	asked    bool      // the backend allowed or denied it once
	allowed  bool      // its last answer
	location string    // a redirect's target
	until    time.Time // the answer holds until then
	okUntil  time.Time // the last allow's end
}

func newPlayAuth() *playAuth {
	a := &playAuth{sessions: map[playKey]*playSession{},
		client: &http.Client{Timeout: playTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	a.policy.Store(&PlayPolicy{})
	return a
}

// backend is the on_play URL of st: its own, else the global one.
func (a *playAuth) backend(st *pipeline.Stream) string {
	if u := st.OnPlay(); u != "" {
		return u
	}
	return a.policy.Load().Backend
}

// allow decides a request for st over proto ("hls", "mpegts"): true lets
// it through; false means the answer (403, or 302 to Location) is written.
func (s *Server) allow(ctx *fasthttp.RequestCtx, st *pipeline.Stream, proto string) bool {
	a := s.play
	backend := a.backend(st)
	if backend == "" {
		return true
	}
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP())
	k := playKey{stream: st.Name(), token: string(ctx.QueryArgs().Peek("token")), ip: ip.Unmap()}
	ps := a.session(k)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := time.Now()
	if ps.until.IsZero() || !now.Before(ps.until) {
		a.ask(ps, k, backend, proto, now)
	}
	switch {
	case ps.allowed:
		return true
	case ps.location != "":
		ctx.Redirect(ps.location, fasthttp.StatusFound)
	default:
		a.denied.Add(1)
		fail(ctx, fasthttp.StatusForbidden, "forbidden\n")
	}
	return false
}

// session returns the session of k, made when new.
func (a *playAuth) session(k playKey) *playSession {
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := a.sessions[k]
	if ps == nil {
		if len(a.sessions) >= maxPlaySessions {
			now := time.Now()
			for key, x := range a.sessions {
				if x.mu.TryLock() {
					old := now.After(x.until.Add(playDownGrace))
					x.mu.Unlock()
					if old {
						delete(a.sessions, key)
					}
				}
			}
			if len(a.sessions) >= maxPlaySessions {
				clear(a.sessions) // all live: start again; each asks anew
			}
		}
		var id [8]byte
		rand.Read(id[:])
		ps = &playSession{id: hex.EncodeToString(id[:])}
		a.sessions[k] = ps
	}
	return ps
}

// ask puts session ps to the backend and records its answer.
func (a *playAuth) ask(ps *playSession, k playKey, backend, proto string, now time.Time) {
	u, err := url.Parse(backend)
	if err != nil {
		a.down(ps, now)
		return
	}
	q := u.Query()
	q.Set("name", k.stream)
	q.Set("proto", proto)
	q.Set("ip", k.ip.String())
	q.Set("token", k.token)
	q.Set("session_id", ps.id)
	q.Set("request_type", "new_session")
	if ps.asked {
		q.Set("request_type", "update_session")
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), playTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		a.down(ps, now)
		return
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.down(ps, now)
		return
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		d := playDefault
		if v, err := strconv.Atoi(resp.Header.Get("X-AuthDuration")); err == nil && v > 0 {
			d = time.Duration(min(v, 86400)) * time.Second
		}
		ps.asked, ps.allowed, ps.location = true, true, ""
		ps.until, ps.okUntil = now.Add(d), now.Add(d)
	case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusMovedPermanently:
		ps.asked, ps.allowed, ps.location = true, false, resp.Header.Get("Location")
		ps.until = now.Add(playDenyFor)
		if ps.location == "" {
			a.down(ps, now)
		}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		ps.asked, ps.allowed, ps.location = true, false, ""
		ps.until = now.Add(playDenyFor)
	default:
		a.down(ps, now)
	}
}

// down records that the backend could not be asked: a session it allowed
// keeps playing for playDownGrace past its time; a new one is let in only
// if the policy says so. Either way the backend is asked again soon.
func (a *playAuth) down(ps *playSession, now time.Time) {
	ps.location = ""
	switch {
	case ps.allowed && now.Before(ps.okUntil.Add(playDownGrace)):
	case !ps.asked && a.policy.Load().AllowWhenDown:
		ps.allowed = true
	default:
		ps.allowed = false
	}
	ps.until = now.Add(playDownRetry)
}
