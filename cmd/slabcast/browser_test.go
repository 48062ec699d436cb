//go:build linux

package main

// The browser end-to-end test: a real player (hls.js, in Debian's headless
// Chromium) plays what slabcast serves, across origins. The test runs its
// own HTTP server for the page and hls.min.js (one origin); slabcast is
// another (a different port is a different origin), so every playlist and
// segment request of the player is a CORS request. The page reports its
// state back to the test server as JSON.
//
// Needs /usr/bin/chromium and hls.min.js, which .ci/browser-deps installs;
// without them the tests skip, and with CI=true they fail.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
)

const (
	// browserPage is the player page, relative to this package.
	browserPage = "testdata/browser/index.html"
	// browserHLSJS is where .ci/browser-deps installs hls.js (npm ci in
	// testdata/browser); SLABCAST_HLSJS overrides it.
	browserHLSJS = "testdata/browser/node_modules/hls.js/dist/hls.min.js"
	// playWant is how much media the player must show, over at least
	// playFrags distinct segments, within playTimeout.
	playWant    = 4.0
	playFrags   = 3
	playTimeout = 40 * time.Second
)

// browserState is what the page reports (see its script for each field).
type browserState struct {
	Run       string `json:"run"`
	HLSLoaded bool   `json:"hlsLoaded"`
	Supported bool   `json:"supported"`
	Version   string `json:"version"`
	Origin    string `json:"origin"`
	Src       string `json:"src"`
	CORS      *struct {
		OK          bool   `json:"ok"`
		Status      int    `json:"status"`
		Type        string `json:"type"`
		ContentType string `json:"contentType"`
		Error       string `json:"error"`
	} `json:"cors"`
	CurrentTime     float64      `json:"currentTime"`
	ReadyState      int          `json:"readyState"`
	Paused          bool         `json:"paused"`
	Played          float64      `json:"played"`
	Buffered        [][2]float64 `json:"buffered"`
	VideoWidth      int          `json:"videoWidth"`
	VideoHeight     int          `json:"videoHeight"`
	TotalFrames     int          `json:"totalFrames"`
	DroppedFrames   int          `json:"droppedFrames"`
	CorruptedFrames int          `json:"corruptedFrames"`
	FragsLoaded     []int64      `json:"fragsLoaded"`
	FragsPlayed     []int64      `json:"fragsPlayed"`
	Errors          []struct {
		Type    string `json:"type"`
		Details string `json:"details"`
		Fatal   bool   `json:"fatal"`
		Reason  string `json:"reason"`
		URL     string `json:"url"`
		Code    int    `json:"code"`
	} `json:"errors"`
	MediaError *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"mediaError"`
	PageErrors []string `json:"pageErrors"`
	PlayError  string   `json:"playError"`
}

// fatal returns the first fatal hls.js error as text, or "".
func (s *browserState) fatal() string {
	for _, e := range s.Errors {
		if e.Fatal {
			return fmt.Sprintf("%s/%s %s (HTTP %d) %s", e.Type, e.Details, e.Reason, e.Code, e.URL)
		}
	}
	return ""
}

// distinctPlayed counts the distinct segments playback has entered.
func (s *browserState) distinctPlayed() int {
	seen := make(map[int64]bool)
	for _, sn := range s.FragsPlayed {
		seen[sn] = true
	}
	return len(seen)
}

func (s *browserState) String() string {
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

// browserTools finds Chromium and hls.min.js: it skips without them, or
// fails under CI=true, where .ci/browser-deps has installed both.
func browserTools(t *testing.T) (chromium, hlsjs string) {
	t.Helper()
	chromium = chromiumPath(t)
	hlsjs = os.Getenv("SLABCAST_HLSJS")
	if hlsjs == "" {
		hlsjs = browserHLSJS
	}
	if fi, err := os.Stat(hlsjs); err != nil || fi.Size() == 0 {
		toolMissing(t, "no hls.js at %s", hlsjs)
	}
	return chromium, hlsjs
}

// chromiumPath is Debian's Chromium, or $SLABCAST_CHROMIUM; missing, the
// test skips (fails under CI=true).
func chromiumPath(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("SLABCAST_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(chromium); err != nil {
		toolMissing(t, "no Chromium: %v", err)
	}
	return chromium
}

// toolMissing skips a test for want of a browser tool, or fails it under
// CI=true, where .ci/browser-deps installs them all.
func toolMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + " (run .ci/browser-deps)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// pageServer serves the player page and hls.min.js, and takes the page's
// reports. Its methods are safe for concurrent use.
type pageServer struct {
	base    string // http://127.0.0.1:PORT, the page's origin
	mu      sync.Mutex
	run     string // reports of other runs are ignored
	runs    int
	last    *browserState
	reports int
	changed chan struct{} // gets a value after each report
}

func startPageServer(t *testing.T, hlsjs string) *pageServer {
	t.Helper()
	page, err := os.ReadFile(browserPage)
	if err != nil {
		t.Fatal(err)
	}
	p := &pageServer{changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(page)
	})
	mux.HandleFunc("GET /hls.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, hlsjs)
	})
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		s := new(browserState)
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		if s.Run != p.run {
			p.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		p.last = s
		p.reports++
		p.mu.Unlock()
		select {
		case p.changed <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	p.base = serveLocal(t, mux)
	return p
}

// serveLocal serves h on a port of 127.0.0.1 until the test ends and
// returns its base URL.
func serveLocal(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// newRun forgets the reports so far and returns the page URL of a new run,
// which plays playlistURL.
func (p *pageServer) newRun(playlistURL string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	p.run = fmt.Sprint(p.runs)
	p.last, p.reports = nil, 0
	select {
	case <-p.changed:
	default:
	}
	return p.base + "/?run=" + p.run + "&src=" + url.QueryEscape(playlistURL)
}

// state returns the latest report (nil before the first) and how many came.
func (p *pageServer) state() (*browserState, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.reports
}

// browser is a running headless Chromium.
type browser struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
}

func (b *browser) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// quietLog is Log less the lines about the D-Bus a test machine lacks.
func (b *browser) quietLog() string {
	var out strings.Builder
	for line := range strings.Lines(b.Log()) {
		if !strings.Contains(line, ":ERROR:dbus/") && !strings.Contains(line, "bluez_dbus") {
			out.WriteString(line)
		}
	}
	return out.String()
}

// startBrowser opens pageURL in a fresh headless Chromium with its own
// profile. Chromium and its helpers run in their own process group, which
// the cleanup ends by its id; Pdeathsig ends the browser if the test binary
// dies first. Under TestMain as root, Chromium shares the test's private
// network namespace, where only lo exists.
func startBrowser(t *testing.T, chromium, pageURL string) *browser {
	t.Helper()
	b := &browser{done: make(chan struct{})}
	// Beyond what headless needs, the flags keep Chromium off every network
	// but loopback even outside a private namespace: no background
	// requests, no proxy lookup, and a resolver that answers nothing but
	// 127.0.0.1, so no DNS query leaves (traced with strace: the only other
	// connect() is the UDP one of Chromium's IPv6 probe, which sends
	// nothing).
	b.cmd = exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--password-store=basic",
		"--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--autoplay-policy=no-user-gesture-required", "--mute-audio",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir="+t.TempDir(),
		pageURL)
	b.cmd.Stdout = lockedWriter{&b.mu, &b.log}
	b.cmd.Stderr = lockedWriter{&b.mu, &b.log}
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		pgid := b.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-b.done
		}
		if t.Failed() {
			t.Logf("chromium output (less D-Bus complaints):\n%s", b.quietLog())
		}
	})
	return b
}

// playPage opens the player on playlistURL and waits, at most within,
// until done says the report is final. It fails the test when the browser
// exits or never reports, and returns the last report.
func playPage(t *testing.T, chromium string, page *pageServer, playlistURL string, within time.Duration, done func(*browserState) bool) *browserState {
	t.Helper()
	b := startBrowser(t, chromium, page.newRun(playlistURL))
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case <-page.changed:
			if s, _ := page.state(); s != nil && done(s) {
				return s
			}
		case <-b.done:
			s, n := page.state()
			t.Fatalf("chromium exited (%v) after %d reports; last:\n%v", b.cmd.ProcessState, n, s)
		case <-deadline.C:
			s, n := page.state()
			if s == nil {
				t.Fatalf("the page sent no report within %v", within)
			}
			t.Logf("%d reports within %v", n, within)
			return s
		}
	}
}

// waitSegments polls the playlist until it lists n segments.
func waitSegments(t *testing.T, playlistURL string, n int, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		p, err := hlstest.FetchPlaylist(ctx, playlistURL)
		if err == nil && len(p.Segments) >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not list %d segments within %v (last: %v)", playlistURL, n, within, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// TestBrowserHLSJS plays a live H.264/AAC stream with hls.js in Chromium
// from another origin. The player must show playWant seconds over
// playFrags segments with 640x360 frames decoded, and raise no fatal error
// and no media error. The playlist and segments reach hls.js only through
// CORS, so a missing Access-Control-Allow-Origin would show up here as a
// fatal network error (manifestLoadError); the no_cors case below shows
// that it does, by stripping the header in a proxy.
func TestBrowserHLSJS(t *testing.T) {
	chromium, hlsjs := browserTools(t)
	hlstest.RequireFFmpeg(t)
	port := freePort(t, "udp")
	d := startDaemon(t, fmt.Sprintf("stream web { input udp://127.0.0.1:%d; segment_duration 1; }\n", port))
	hlstest.StartSender(t, hlstest.SenderOptions{URL: fmt.Sprintf("udp://127.0.0.1:%d", port), Video: "h264"})
	pl := d.base + "/web/index.m3u8"
	// Start the player once the live window holds three segments, so that
	// hls.js starts its usual three target durations behind the live edge.
	// The playlist rules themselves are TestLiveMulticastH264's business;
	// here only the player's verdict counts.
	waitSegments(t, pl, 3, 20*time.Second)
	page := startPageServer(t, hlsjs)
	if page.base == d.base {
		t.Fatal("BUG: the page and slabcast share an origin")
	}

	t.Run("plays", func(t *testing.T) { checkBrowserPlays(t, chromium, page, pl) })

	// The same stream through a proxy that drops Access-Control-Allow-Origin:
	// the browser must refuse it, which proves the case above depends on
	// slabcast's CORS header.
	t.Run("no_cors", func(t *testing.T) {
		target, err := url.Parse(d.base)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ModifyResponse = func(r *http.Response) error {
			r.Header.Del("Access-Control-Allow-Origin")
			return nil
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: proxy}
		go srv.Serve(l)
		defer srv.Close()
		s := playPage(t, chromium, page, "http://"+l.Addr().String()+"/web/index.m3u8", 20*time.Second, func(s *browserState) bool {
			return s.fatal() != "" && s.CORS != nil || len(s.PageErrors) > 0 || !s.HLSLoaded || s.Played > 0
		})
		t.Logf("without CORS: fetch %+v; hls.js %s", s.CORS, s.fatal())
		if s.CORS == nil || s.CORS.OK {
			t.Errorf("the page read the playlist without CORS: %+v", s.CORS)
		}
		if f := s.fatal(); !strings.HasPrefix(f, "networkError/manifestLoadError") {
			t.Errorf("fatal hls.js error %q, want networkError/manifestLoadError", f)
		}
		if s.Played > 0 {
			t.Errorf("played %.2f s without CORS", s.Played)
		}
		if t.Failed() {
			t.Logf("last report:\n%v", s)
		}
	})
}

// checkBrowserPlays has hls.js in Chromium play playlist pl from the page's
// origin: playWant seconds over playFrags segments of 640x360 frames, with
// no fatal, media or page error and the playlist read through CORS.
func checkBrowserPlays(t *testing.T, chromium string, page *pageServer, pl string) {
	t.Helper()
	start := time.Now()
	s := playPage(t, chromium, page, pl, playTimeout, func(s *browserState) bool {
		return s.fatal() != "" || s.MediaError != nil || len(s.PageErrors) > 0 || !s.HLSLoaded ||
			(s.Played >= playWant && s.distinctPlayed() >= playFrags && s.CORS != nil)
	})
	t.Logf("hls.js %s played %.1f s over segments %v in %v; %d frames (%d dropped); %dx%d",
		s.Version, s.Played, s.FragsPlayed, time.Since(start).Round(time.Millisecond),
		s.TotalFrames, s.DroppedFrames, s.VideoWidth, s.VideoHeight)
	for _, e := range s.Errors {
		if !e.Fatal {
			t.Logf("non-fatal hls.js error: %s/%s %s %s", e.Type, e.Details, e.Reason, e.URL)
		}
	}
	switch {
	case !s.HLSLoaded:
		t.Fatalf("hls.js did not load: %v", s.PageErrors)
	case !s.Supported:
		t.Fatal("Hls.isSupported() is false: this Chromium has no MSE with H.264")
	}
	if f := s.fatal(); f != "" {
		t.Errorf("fatal hls.js error: %s", f)
	}
	if s.MediaError != nil {
		t.Errorf("media error %d: %s", s.MediaError.Code, s.MediaError.Message)
	}
	if len(s.PageErrors) > 0 {
		t.Errorf("page errors: %v", s.PageErrors)
	}
	if s.PlayError != "" {
		t.Errorf("video.play(): %s", s.PlayError)
	}
	if s.CORS == nil || !s.CORS.OK || s.CORS.Status != http.StatusOK || s.CORS.Type != "cors" {
		t.Errorf("the page's cross-origin fetch of the playlist: %+v", s.CORS)
	} else if s.CORS.ContentType != "application/vnd.apple.mpegurl" {
		t.Errorf("playlist Content-Type seen by the page: %q", s.CORS.ContentType)
	}
	if s.Played < playWant || s.distinctPlayed() < playFrags {
		t.Errorf("played %.2f s over %d segments, want >= %.0f s over >= %d", s.Played, s.distinctPlayed(), playWant, playFrags)
	}
	if s.VideoWidth != 640 || s.VideoHeight != 360 {
		t.Errorf("video %dx%d, want 640x360", s.VideoWidth, s.VideoHeight)
	}
	// 25 fps for playWant seconds; headless may drop some, so ask for half.
	if want := int(playWant * 25 / 2); s.TotalFrames < want {
		t.Errorf("%d video frames decoded, want >= %d", s.TotalFrames, want)
	}
	if s.CorruptedFrames != 0 {
		t.Errorf("%d corrupted video frames", s.CorruptedFrames)
	}
	if t.Failed() {
		t.Logf("last report:\n%v", s)
	}
}
