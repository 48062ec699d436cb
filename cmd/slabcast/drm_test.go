//go:build linux

package main

// Content protection end to end (issue 11): AES-128 HLS with keys from the
// operator's key server (a CAS: testdata/cas.py, Python's http.server, like
// Flussonic's PHP example) and playback authorization by an on_play backend
// (a Go httptest server). The real binary, real multicast in the test's
// private network namespace, ffmpeg and hls.js as the players; every
// segment a drm stream lists during a test is fetched raw, shown not to be
// TS and decrypted here with the CAS's key.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// ---- the test CAS ----

// casServer is testdata/cas.py on a port of 127.0.0.1: key N of file F is
// md5(F + N) (casKey). Its modes (ok, short, 500, slow, upto=N) are set per
// file through a control file it reads on every request; "down" is the
// server not running: newCAS only picks its port, start runs it, stop ends
// it by its PID, and start runs it again on the same port.
type casServer struct {
	t     *testing.T
	port  int
	dir   string
	mu    sync.Mutex
	modes map[string]string
	cmd   *exec.Cmd
	errMu *sync.Mutex
	errs  *bytes.Buffer
}

// casKey is the key the test CAS gives for file and number.
func casKey(file string, n int64) [16]byte {
	return md5.Sum([]byte(file + strconv.FormatInt(n, 10)))
}

// python finds a Python 3 for the CAS (stdlib only).
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no python3 for the test CAS: %v", err)
		}
		t.Skipf("no python3 for the test CAS: %v", err)
	}
	return p
}

// newCAS picks a free port for a CAS without starting it: its URL can go in
// a config while nothing listens there.
func newCAS(t *testing.T) *casServer {
	t.Helper()
	python(t)
	c := &casServer{t: t, port: freePort(t, "tcp"), dir: t.TempDir(), modes: map[string]string{},
		errMu: &sync.Mutex{}, errs: &bytes.Buffer{}}
	t.Cleanup(func() {
		c.stop()
		c.errMu.Lock()
		defer c.errMu.Unlock()
		if t.Failed() && c.errs.Len() > 0 {
			t.Logf("cas.py stderr:\n%s", c.errs.String())
		}
	})
	return c
}

// url is the keyserver URL of the CAS.
func (c *casServer) url() string { return fmt.Sprintf("http://127.0.0.1:%d/cas", c.port) }

// set gives file (or "*") mode from the next request on; the control file
// is replaced atomically.
func (c *casServer) set(file, mode string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.modes[file] = mode
	var b strings.Builder
	for f, m := range c.modes {
		fmt.Fprintf(&b, "%s %s\n", f, m)
	}
	tmp := filepath.Join(c.dir, "control.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "control")); err != nil {
		c.t.Fatal(err)
	}
}

// start runs the CAS on its port and waits until it listens.
func (c *casServer) start() {
	c.t.Helper()
	cmd := exec.Command(python(c.t), "testdata/cas.py", strconv.Itoa(c.port),
		filepath.Join(c.dir, "control"), filepath.Join(c.dir, "requests.log"), "--lifetime", "300")
	if _, err := cmd.StdinPipe(); err != nil { // held open: it exits at EOF, with the test
		c.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = lockedWriter{c.errMu, c.errs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd = cmd
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "READY" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			c.stop()
			c.errMu.Lock()
			defer c.errMu.Unlock()
			c.t.Fatalf("cas.py ended before it was ready: %s", c.errs.String())
		}
	case <-time.After(10 * time.Second):
		c.stop()
		c.t.Fatal("cas.py was not ready within 10 s")
	}
}

// stop ends the CAS by its PID: the key server is down.
func (c *casServer) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	cmd := c.cmd
	c.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// casRequest is one line of the CAS's request log.
type casRequest struct {
	File, Number, Mode string
	Status             int
}

// requests returns what the CAS was asked so far.
func (c *casServer) requests() []casRequest {
	b, _ := os.ReadFile(filepath.Join(c.dir, "requests.log"))
	var out []casRequest
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		st, _ := strconv.Atoi(f[3])
		out = append(out, casRequest{f[0], f[1], f[2], st})
	}
	return out
}

// ---- HTTP and playlists ----

// drmClient never follows redirects (on_play's 302 is checked as such)
// and never uses a proxy.
var drmClient = &http.Client{
	Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get fetches u and returns its answer with at most limit bytes of body
// (an endless /mpegts is cut there).
func get(ctx context.Context, u string, limit int64) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := drmClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil && int64(len(body)) < limit {
		return resp, body, fmt.Errorf("GET %s: %v", u, err)
	}
	return resp, body, nil
}

// keyedSegment is a playlist segment with the EXT-X-KEY in force for it.
type keyedSegment struct {
	hlstest.Segment
	Method, KeyURI string
	IV             *[16]byte // the explicit IV, nil for "the MSN"
	KeyLine        bool      // an EXT-X-KEY line comes right before it
}

// keyed pairs every segment of p with its EXT-X-KEY.
func keyed(p *hlstest.Playlist) ([]keyedSegment, error) {
	var out []keyedSegment
	var cur keyedSegment
	for line := range strings.Lines(string(p.Raw)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-KEY:"):
			a, err := attrs(strings.TrimPrefix(line, "#EXT-X-KEY:"))
			if err != nil {
				return nil, fmt.Errorf("%q: %v", line, err)
			}
			cur = keyedSegment{Method: a["METHOD"], KeyURI: a["URI"], KeyLine: true}
			if v, ok := a["IV"]; ok {
				h, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X"))
				if err != nil || len(h) != 16 {
					return nil, fmt.Errorf("%q: IV is not 16 bytes of hex", line)
				}
				cur.IV = (*[16]byte)(h)
			}
		case strings.HasPrefix(line, "#"):
		default:
			i := len(out)
			if i >= len(p.Segments) || p.Segments[i].URI != line {
				return nil, fmt.Errorf("segment %d: %q is not the parser's", i, line)
			}
			s := cur
			s.Segment = p.Segments[i]
			out = append(out, s)
			cur.KeyLine = false
		}
	}
	if len(out) != len(p.Segments) {
		return nil, fmt.Errorf("%d segments paired, %d listed", len(out), len(p.Segments))
	}
	return out, nil
}

// attrs parses an attribute list (RFC 8216 §4.2).
func attrs(s string) (map[string]string, error) {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, errors.New("malformed attribute list")
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated quoted string")
			}
			v, rest = rest[1:1+end], rest[2+end:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
			if rest == "," {
				rest = ""
			}
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("attribute %s twice", k)
		}
		out[k] = v
		if rest != "" {
			if rest[0] != ',' {
				return nil, errors.New("no comma between attributes")
			}
			rest = rest[1:]
		}
		s = rest
	}
	return out, nil
}

var keyRoute = regexp.MustCompile(`^key/([0-9]+)\.key(\?.*)?$`)

// keyNumber reads the key period N of a key URI: slabcast's key/N.key, or
// a user_keyserver URL with file= and number=.
func keyNumber(uri string) (int64, error) {
	if m := keyRoute.FindStringSubmatch(uri); m != nil {
		return strconv.ParseInt(m[1], 10, 64)
	}
	u, err := url.Parse(uri)
	if err == nil && u.Query().Has("file") && u.Query().Has("number") {
		return strconv.ParseInt(u.Query().Get("number"), 10, 64)
	}
	return 0, fmt.Errorf("key URI %q names no key number", uri)
}

// msnIV is the IV of a segment without an explicit one: its media sequence
// number, big-endian, in 16 bytes (RFC 8216 §5.2).
func msnIV(msn uint64) [16]byte {
	var iv [16]byte
	for i := range 8 {
		iv[15-i] = byte(msn >> (8 * i))
	}
	return iv
}

// decryptSegment undoes AES-128-CBC with PKCS7 padding.
func decryptSegment(b []byte, key, iv [16]byte) ([]byte, error) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%d bytes: not whole AES blocks", len(b))
	}
	block, _ := aes.NewCipher(key[:])
	out := make([]byte, len(b))
	cipher.NewCBCDecrypter(block, iv[:]).CryptBlocks(out, b)
	pad := int(out[len(out)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, fmt.Errorf("PKCS7 padding byte %d: wrong key or IV", pad)
	}
	for _, x := range out[len(out)-pad:] {
		if int(x) != pad {
			return nil, errors.New("bad PKCS7 padding: wrong key or IV")
		}
	}
	return out[:len(out)-pad], nil
}

// looksLikeTS reports whether b has a sync byte at most of the 188-byte
// packet starts: cleartext MPEG-TS.
func looksLikeTS(b []byte) bool {
	n, hits := 0, 0
	for i := 0; i < len(b); i += 188 {
		n++
		if b[i] == 0x47 {
			hits++
		}
	}
	return n > 0 && hits*2 > n
}

// fetchCiphertext fetches one listed segment of stream name and checks it
// the way no player can cheat: served as ciphertext (not TS, whole AES
// blocks, Content-Length that of the ciphertext, video/mp2t), decrypting
// with the CAS's key for the number in its EXT-X-KEY URI and its IV (the
// explicit one, else its MSN) to whole TS packets that start with a PAT
// and keep their continuity counters. It returns the cleartext and the
// key number.
func fetchCiphertext(ctx context.Context, playlistURL, name string, s keyedSegment) ([]byte, int64, error) {
	if s.Method != "AES-128" || s.KeyURI == "" {
		return nil, 0, fmt.Errorf("segment %d %s listed with METHOD=%q URI=%q, not AES-128", s.MSN, s.URI, s.Method, s.KeyURI)
	}
	n, err := keyNumber(s.KeyURI)
	if err != nil {
		return nil, 0, err
	}
	resp, body, err := get(ctx, hlstest.ResolveURI(playlistURL, s.URI), 64<<20)
	if err != nil {
		return nil, n, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, n, fmt.Errorf("segment %d %s: %s", s.MSN, s.URI, resp.Status)
	}
	switch {
	case looksLikeTS(body):
		return nil, n, fmt.Errorf("segment %d %s: CLEARTEXT: %d bytes of TS served", s.MSN, s.URI, len(body))
	case len(body)%aes.BlockSize != 0:
		return nil, n, fmt.Errorf("segment %d %s: %d bytes, not whole AES blocks", s.MSN, s.URI, len(body))
	case resp.ContentLength != int64(len(body)):
		return nil, n, fmt.Errorf("segment %d %s: Content-Length %d for %d bytes", s.MSN, s.URI, resp.ContentLength, len(body))
	case resp.Header.Get("Content-Type") != "video/mp2t":
		return nil, n, fmt.Errorf("segment %d %s: Content-Type %q", s.MSN, s.URI, resp.Header.Get("Content-Type"))
	}
	iv := msnIV(s.MSN)
	if s.IV != nil {
		iv = *s.IV
	}
	plain, err := decryptSegment(body, casKey(name, n), iv)
	if err != nil {
		return nil, n, fmt.Errorf("segment %d %s, key %d: %v", s.MSN, s.URI, n, err)
	}
	switch {
	case len(plain)%188 != 0:
		return nil, n, fmt.Errorf("segment %d: decrypts to %d bytes, not whole TS packets", s.MSN, len(plain))
	case !hlstest.FirstPacketIsPAT(plain):
		return nil, n, fmt.Errorf("segment %d: decrypted, it does not start with a PAT", s.MSN)
	case hlstest.ContinuityErrors(plain) != 0:
		return nil, n, fmt.Errorf("segment %d: decrypted, %d continuity errors", s.MSN, hlstest.ContinuityErrors(plain))
	}
	return plain, n, nil
}

// ---- the watcher: no cleartext byte ever leaves ----

// seenSegment is what the watcher learnt of one listed segment.
type seenSegment struct {
	URI           string
	MSN           uint64
	PDT           time.Time
	Key           int64
	Discontinuity bool
	Seen          time.Time
}

// drmWatch polls the playlists of drm streams for a whole test, one
// goroutine a stream, and checks every segment any of them lists, once:
// fetchCiphertext (ciphertext on the wire, the CAS's key decrypts it), its
// key number that of its PROGRAM-DATE-TIME's period, successive playlists
// by CheckProgression; and that /NAME/mpegts answers 403.
type drmWatch struct {
	base    string
	expires map[string]time.Duration
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once

	mu      sync.Mutex
	seen    map[string]map[string]seenSegment // stream → URI → segment
	errs    []string
	checked int // segments decrypted
}

func watchDRM(t *testing.T, base string, expires map[string]time.Duration) *drmWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &drmWatch{base: base, expires: expires, cancel: cancel, seen: map[string]map[string]seenSegment{}}
	for name := range expires {
		w.seen[name] = map[string]seenSegment{}
		w.wg.Add(1)
		go w.run(ctx, name)
	}
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *drmWatch) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 50 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

func (w *drmWatch) run(ctx context.Context, name string) {
	defer w.wg.Done()
	pl := w.base + "/" + name + "/index.m3u8"
	var prev *hlstest.Playlist
	for round := 0; ctx.Err() == nil; round++ {
		if round%4 == 0 {
			if resp, body, err := get(ctx, w.base+"/"+name+"/mpegts", 64<<10); err == nil && resp.StatusCode != http.StatusForbidden {
				w.fail("%s/mpegts: %s (%d bytes), want 403", name, resp.Status, len(body))
			}
		}
		resp, body, err := get(ctx, pl, 1<<20)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			w.fail("%s: %v", pl, err)
		case resp.StatusCode == http.StatusServiceUnavailable:
			// No segment yet: its key was never had.
		case resp.StatusCode != http.StatusOK:
			w.fail("%s: %s", pl, resp.Status)
		default:
			p, err := hlstest.ParsePlaylist(body)
			if err != nil {
				w.fail("%s: %v", pl, err)
				break
			}
			if prev != nil {
				if err := hlstest.CheckProgression(prev, p); err != nil {
					w.fail("%s: %v\n--- before:\n%s--- now:\n%s", pl, err, prev.Raw, p.Raw)
				}
			}
			prev = p
			w.check(ctx, pl, name, p)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (w *drmWatch) check(ctx context.Context, pl, name string, p *hlstest.Playlist) {
	segs, err := keyed(p)
	if err != nil {
		w.fail("%s: %v\n%s", pl, err, p.Raw)
		return
	}
	for _, s := range segs {
		w.mu.Lock()
		_, done := w.seen[name][s.URI]
		w.mu.Unlock()
		if done {
			continue
		}
		_, n, err := fetchCiphertext(ctx, pl, name, s)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.fail("%s: %v", name, err)
		}
		if e := w.expires[name]; e > 0 && n != s.ProgramDateTime.UnixNano()/int64(e) {
			w.fail("%s: segment %d (PDT %s) has key %d, want %d", name, s.MSN, s.ProgramDateTime.Format(time.RFC3339Nano), n, s.ProgramDateTime.UnixNano()/int64(e))
		} else if e == 0 && n != 0 {
			w.fail("%s: segment %d has key %d without expires, want 0", name, s.MSN, n)
		}
		w.mu.Lock()
		w.seen[name][s.URI] = seenSegment{URI: s.URI, MSN: s.MSN, PDT: s.ProgramDateTime, Key: n, Discontinuity: s.Discontinuity, Seen: time.Now()}
		if err == nil {
			w.checked++
		}
		w.mu.Unlock()
	}
}

// stop ends the watch and reports what it found wrong.
func (w *drmWatch) stop(t *testing.T) {
	w.once.Do(func() {
		w.cancel()
		w.wg.Wait()
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, e := range w.errs {
			t.Errorf("watch: %s", e)
		}
		t.Logf("watch: %d listed segments fetched raw and decrypted", w.checked)
	})
}

// history returns the segments stream name listed so far, by MSN.
func (w *drmWatch) history(name string) []seenSegment {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []seenSegment
	for _, s := range w.seen[name] {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MSN < out[j].MSN })
	return out
}

// waitListed waits until stream name has listed n segments that match
// (all when match is nil), at most within.
func (w *drmWatch) waitListed(t *testing.T, name string, n int, within time.Duration, match func(seenSegment) bool) []seenSegment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got []seenSegment
		for _, s := range w.history(name) {
			if match == nil || match(s) {
				got = append(got, s)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d matching segments listed within %v, want %d; all: %+v", name, len(got), within, n, w.history(name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---- a background ffmpeg player ----

// hlsPlayer is ffmpeg playing a live playlist until stopped, logging
// (-v level+verbose) each segment it opens.
type hlsPlayer struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	mu      *sync.Mutex
	stderr  *bytes.Buffer
	stopped bool
}

func startPlayer(t *testing.T, playlistURL string) *hlsPlayer {
	t.Helper()
	p := &hlsPlayer{done: make(chan struct{}), mu: &sync.Mutex{}, stderr: &bytes.Buffer{}}
	p.cmd = exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-v", "level+verbose", "-xerror",
		"-i", playlistURL, "-f", "null", "-")
	p.cmd.Stderr = lockedWriter{p.mu, p.stderr}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.started = time.Now()
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the player (SIGINT, by its PID) and returns the segment URLs
// it opened, in order, and an error when it ended by itself before, or
// logged an error.
func (p *hlsPlayer) stop() ([]string, error) {
	var early error
	select {
	case <-p.done:
		if !p.stopped {
			early = fmt.Errorf("ffmpeg ended by itself after %v: %v", time.Since(p.started).Round(time.Millisecond), p.cmd.ProcessState)
		}
	default:
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.stopped = true
	p.mu.Lock()
	defer p.mu.Unlock()
	var opened, bad []string
	for line := range strings.Lines(p.stderr.String()) {
		if _, rest, ok := strings.Cut(line, "HLS request for url '"); ok {
			u, _, _ := strings.Cut(rest, "'")
			opened = append(opened, u)
		}
		if strings.Contains(line, "[error]") || strings.Contains(line, "[fatal]") || strings.Contains(line, "[panic]") {
			bad = append(bad, strings.TrimSpace(line))
		}
	}
	if early == nil && len(bad) > 0 {
		early = fmt.Errorf("ffmpeg logged errors:\n%s", strings.Join(bad, "\n"))
	}
	return opened, early
}

// ---- TestDRM ----

// TestDRM: one multicast source, seven drm streams, one CAS (and a second
// that is down at start).
//
//   - enc (expires=1): the playlist names key/N.key before the first
//     segment and at every change, N the period of each segment's
//     PROGRAM-DATE-TIME; every segment fetched raw is not TS, is whole AES
//     blocks with a matching Content-Length, and decrypts with the CAS's key
//     N and IV = MSN to TS starting with a PAT and a keyframe; the key route
//     answers the CAS's key with no-store; /mpegts is 403; ffmpeg plays the
//     playlist; hls.js plays it in Chromium.
//   - iv (user_keyserver, hls_ext_x_key_iv=on): every segment has its own
//     EXT-X-KEY naming the CAS itself and IV = MSN; ffmpeg plays it,
//     taking the key from the CAS.
//   - short, e500, slow: the CAS answers 8 bytes, 500, or after 5 s;
//     down: its CAS is not running. Nothing is listed (503), segments are
//     withheld and key errors counted, the key route has nothing, /mpegts
//     is 403; when the CAS answers, each recovers within seconds and plays.
//     Then down's CAS stops mid-stream: the stream holds its keys and goes
//     on, encrypted.
//   - the minute boundary, when it comes within the test's budget: enc's
//     key rotates and an ffmpeg player running across it keeps playing
//     from segments of both keys; mid (expires=1, its CAS giving keys up
//     to the current period only) stops listing at the boundary, counts,
//     and comes back after a discontinuity when the CAS gives the key.
//
// A watcher fetches and decrypts every segment any of them lists during
// the whole test and checks that /NAME/mpegts stays 403: no cleartext byte
// ever leaves.
func TestDRM(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	cas := newCAS(t)
	late := newCAS(t) // down at start
	t0 := time.Now()
	period0 := t0.UnixNano() / int64(time.Minute)
	boundary := time.Unix((period0+1)*60, 0) // the next minute boundary
	cas.set("short", "short")
	cas.set("e500", "500")
	cas.set("slow", "slow")
	cas.set("mid", fmt.Sprintf("upto=%d", period0)) // no key for the next period
	cas.start()

	const group = "udp://239.4.11.1:5000"
	d := startDaemon(t, fmt.Sprintf(`
stream enc { input %[1]s; segment_duration 1; segment_count 10; drm aes128 keyserver=%[2]s expires=1; }
stream iv { input %[1]s; segment_duration 1; drm aes128 keyserver=%[2]s user_keyserver=%[2]s hls_ext_x_key_iv=on; }
stream mid { input %[1]s; segment_duration 1; drm aes128 keyserver=%[2]s expires=1; }
stream short { input %[1]s; segment_duration 1; drm aes128 keyserver=%[2]s; }
stream e500 { input %[1]s; segment_duration 1; drm aes128 keyserver=%[2]s; }
stream slow { input %[1]s; segment_duration 1; drm aes128 keyserver=%[2]s; }
stream down { input %[1]s; segment_duration 1; drm aes128 keyserver=%[3]s expires=1; }
`, group, cas.url(), late.url()))
	w := watchDRM(t, d.base, map[string]time.Duration{"enc": time.Minute, "iv": 0, "mid": time.Minute,
		"short": 0, "e500": 0, "slow": 0, "down": time.Minute})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: group, Video: "h264"})

	encPL := d.base + "/enc/index.m3u8"
	waitSegments(t, encPL, 3, 20*time.Second)
	// Playing through the rest of the test, across the key rotation when
	// the minute boundary comes.
	player := startPlayer(t, encPL)

	t.Run("encrypted", func(t *testing.T) { checkEncryptedStream(t, d, cas, encPL) })
	t.Run("explicit_iv_user_keyserver", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pl := d.base + "/iv/index.m3u8"
		waitSegments(t, pl, 3, 15*time.Second)
		p, err := hlstest.FetchPlaylist(ctx, pl)
		if err != nil {
			t.Fatal(err)
		}
		segs, err := keyed(p)
		if err != nil {
			t.Fatal(err)
		}
		want := cas.url() + "?file=iv&number=0"
		for _, s := range segs {
			if !s.KeyLine || s.KeyURI != want || s.IV == nil || *s.IV != msnIV(s.MSN) {
				t.Errorf("segment %d: own EXT-X-KEY %v, URI %q (want %q), IV %x (want its MSN)", s.MSN, s.KeyLine, s.KeyURI, want, s.IV)
			}
			if _, _, err := fetchCiphertext(ctx, pl, "iv", s); err != nil {
				t.Error(err)
			}
		}
		// ffmpeg takes the key from the CAS itself.
		if err := hlstest.Decode(ctx, pl, 3); err != nil {
			t.Errorf("ffmpeg: %v", err)
		}
		if t.Failed() {
			t.Logf("playlist:\n%s", p.Raw)
		}
	})
	t.Run("hlsjs", func(t *testing.T) {
		chromium, hlsjs := browserTools(t)
		page := startPageServer(t, hlsjs)
		checkBrowserPlays(t, chromium, page, encPL)
	})
	t.Run("cas_failures", func(t *testing.T) { checkCASFailures(t, d, w, cas, late) })
	t.Run("rotation", func(t *testing.T) { checkRotation(t, d, w, cas, player, boundary) })

	// The key fetcher asks the CAS for the keys of the current and the
	// next period (and any a segment needed), nothing else.
	t.Run("cas_asked_for_current_periods", func(t *testing.T) {
		now := time.Now().UnixNano() / int64(time.Minute)
		for _, name := range []string{"enc", "mid", "down"} {
			var asked []int64
			for _, r := range append(cas.requests(), late.requests()...) {
				if r.File == name {
					n, _ := strconv.ParseInt(r.Number, 10, 64)
					asked = append(asked, n)
				}
			}
			slices.Sort(asked)
			asked = slices.Compact(asked)
			for _, n := range asked {
				if n < period0 || n > now+1 {
					t.Errorf("%s (expires=1): the CAS was asked for key %d, not a period of the test's (%d…%d); asked %v", name, n, period0, now+1, asked)
				}
			}
		}
	})
	w.stop(t)
	t.Logf("TestDRM took %v", time.Since(t0).Round(time.Second))
}

// checkEncryptedStream checks the playlist, the segments, the key route
// and /mpegts of the drm stream at pl, and plays it with ffmpeg.
func checkEncryptedStream(t *testing.T, d *testDaemon, cas *casServer, pl string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	p, err := hlstest.FetchPlaylist(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := keyed(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 {
		t.Fatalf("%d segments listed:\n%s", len(segs), p.Raw)
	}
	if !segs[0].KeyLine {
		t.Errorf("no EXT-X-KEY before the first segment")
	}
	dir := t.TempDir()
	keys := map[int64]bool{}
	for i, s := range segs {
		n, err := keyNumber(s.KeyURI)
		if err != nil {
			t.Fatal(err)
		}
		if want := s.ProgramDateTime.UnixNano() / int64(time.Minute); n != want {
			t.Errorf("segment %d starts at %s, period %d, but names key %d", s.MSN, s.ProgramDateTime.Format(time.RFC3339Nano), want, n)
		}
		if !strings.HasPrefix(s.KeyURI, "key/") || s.IV != nil {
			t.Errorf("segment %d: key URI %q IV %x, want key/N.key and no IV", s.MSN, s.KeyURI, s.IV)
		}
		// An EXT-X-KEY at the first segment and at every change, only.
		if i > 0 {
			prev, _ := keyNumber(segs[i-1].KeyURI)
			if s.KeyLine != (n != prev) {
				t.Errorf("segment %d: EXT-X-KEY line %v, key %d after %d", s.MSN, s.KeyLine, n, prev)
			}
		}
		keys[n] = true
		plain, _, err := fetchCiphertext(ctx, pl, "enc", s)
		if err != nil {
			t.Error(err)
			continue
		}
		f := filepath.Join(dir, strconv.FormatUint(s.MSN, 10)+".ts")
		if err := os.WriteFile(f, plain, 0o644); err != nil {
			t.Fatal(err)
		}
		if key, pt, err := hlstest.FirstVideoFrame(ctx, f); err != nil || !key {
			t.Errorf("segment %d decrypted: first video frame key=%v pict_type=%s err=%v", s.MSN, key, pt, err)
		}
		if i == 0 {
			if err := hlstest.Decode(ctx, f, 0); err != nil {
				t.Errorf("segment %d decrypted: %v", s.MSN, err)
			}
		}
	}
	// The key route gives the CAS's key, never to be cached.
	for n := range keys {
		resp, body, err := get(ctx, d.base+"/enc/key/"+strconv.FormatInt(n, 10)+".key", 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		want := casKey("enc", n)
		if resp.StatusCode != 200 || !bytes.Equal(body, want[:]) {
			t.Errorf("key %d: %s %x, want the CAS's %x", n, resp.Status, body, want)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("key %d: Cache-Control %q, want no-store", n, cc)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("key %d: no CORS header", n)
		}
	}
	for _, path := range []string{"/enc/key/12.key", "/enc/key/x.key", "/enc/key/-1.key"} {
		if resp, _, err := get(ctx, d.base+path, 1<<10); err != nil || resp.StatusCode != 404 {
			t.Errorf("%s: %v %v, want 404", path, resp.Status, err)
		}
	}
	// Never cleartext: no HTTP MPEG-TS for a drm stream.
	resp, body, err := get(ctx, d.base+"/enc/mpegts", 64<<10)
	if err != nil || resp.StatusCode != 403 || looksLikeTS(body) {
		t.Errorf("/enc/mpegts: %v %v (%d bytes), want 403", resp.Status, err, len(body))
	}
	// The CAS was asked GET keyserver?file=enc&number=N for them.
	for n := range keys {
		if !slices.Contains(cas.requests(), casRequest{"enc", strconv.FormatInt(n, 10), "ok", 200}) {
			t.Errorf("the CAS was never asked for file=enc number=%d: %+v", n, cas.requests())
		}
	}
	// ffmpeg plays the encrypted playlist.
	if err := hlstest.Decode(ctx, pl, 4); err != nil {
		t.Errorf("ffmpeg: %v", err)
	}
	if t.Failed() {
		t.Logf("playlist:\n%s", p.Raw)
	}
}

// checkCASFailures: the CAS answering 8 bytes, 500, slowly, or down at
// start, then answering; then down mid-stream.
func checkCASFailures(t *testing.T, d *testDaemon, w *drmWatch, cas, late *casServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	failing := []string{"short", "e500", "slow", "down"}
	// A player asking meanwhile is held, then told 503.
	type answer struct {
		code  int
		retry string
		err   error
	}
	answers := make([]chan answer, len(failing))
	for i, name := range failing {
		answers[i] = make(chan answer, 1)
		go func() {
			resp, _, err := get(ctx, d.base+"/"+name+"/index.m3u8", 1<<20)
			if err != nil {
				answers[i] <- answer{err: err}
				return
			}
			answers[i] <- answer{code: resp.StatusCode, retry: resp.Header.Get("Retry-After")}
		}()
	}
	for _, name := range failing {
		label := `{stream="` + name + `"}`
		d.waitMetric("slabcast_drm_key_errors_total"+label, 15*time.Second, func(v float64) bool { return v >= 1 })
		d.waitMetric("slabcast_drm_segments_withheld_total"+label, 10*time.Second, func(v float64) bool { return v >= 2 })
		if v := d.metric("slabcast_segments_total" + label); v > 0 {
			t.Errorf("%s: %v segments published without a key", name, v)
		}
		if n := len(w.history(name)); n > 0 {
			t.Errorf("%s: %d segments listed without a key", name, n)
		}
		if resp, body, err := get(ctx, d.base+"/"+name+"/key/0.key", 1<<10); err != nil || resp.StatusCode != 404 {
			t.Errorf("%s/key/0.key without a key: %v %v %x", name, resp.Status, err, body)
		}
	}
	for i, name := range failing {
		a := <-answers[i]
		if a.err != nil || a.code != http.StatusServiceUnavailable || a.retry == "" {
			t.Errorf("%s/index.m3u8 with no key: %d (Retry-After %q) %v, want 503", name, a.code, a.retry, a.err)
		}
	}
	// The CAS saw Flussonic's query, and what it answered.
	modes := map[string]string{"short": "short", "e500": "500", "slow": "slow"}
	for _, r := range cas.requests() {
		if m, ok := modes[r.File]; ok && r.Number == "0" && r.Mode == m {
			delete(modes, r.File)
		}
	}
	if len(modes) > 0 {
		t.Errorf("the CAS was not asked file=NAME&number=0 by %v", modes)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The key server answers: every stream recovers within seconds.
	late.start()
	for _, name := range []string{"short", "e500", "slow"} {
		cas.set(name, "ok")
	}
	for _, name := range failing {
		// slow: a fetch under way runs into its 3 s timeout first.
		w.waitListed(t, name, 2, 15*time.Second, nil)
	}
	if err := hlstest.Decode(ctx, d.base+"/down/index.m3u8", 2); err != nil {
		t.Errorf("ffmpeg on down after its CAS came: %v", err)
	}

	// Down mid-stream: down holds the keys it has and goes on, encrypted.
	late.stop()
	n := len(w.history("down"))
	w.waitListed(t, "down", n+3, 10*time.Second, nil)
	h := w.history("down")
	last := h[len(h)-1]
	resp, body, err := get(ctx, d.base+"/down/key/"+strconv.FormatInt(last.Key, 10)+".key", 1<<10)
	if want := casKey("down", last.Key); err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want[:]) {
		t.Errorf("down's held key %d with its CAS down: %v %v", last.Key, resp.Status, err)
	}
}

// checkRotation waits for the minute boundary when it is close enough:
// enc's key changes there and the player running since the start plays
// across it; mid, whose CAS gives no key for the new period, stops listing,
// counts, and recovers once it does; down, whose CAS is down, goes on with
// the next period's key it fetched ahead of time.
func checkRotation(t *testing.T, d *testDaemon, w *drmWatch, cas *casServer, player *hlsPlayer, boundary time.Time) {
	const budget = 30 * time.Second
	settle := boundary.Add(7 * time.Second)
	if wait := time.Until(settle); wait > budget {
		opened, err := player.stop()
		if err != nil {
			t.Errorf("the ffmpeg player: %v", err)
		}
		t.Logf("the minute boundary is %v away, past this test's budget: key rotation not waited for "+
			"(the watcher checked every segment's key number against its PROGRAM-DATE-TIME; ffmpeg played %d segments)",
			time.Until(boundary).Round(time.Second), len(opened))
		return
	} else if wait > 0 {
		t.Logf("waiting %v for the minute boundary at %s", wait.Round(100*time.Millisecond), boundary.Format(time.TimeOnly))
		time.Sleep(wait)
	}
	k := boundary.UnixNano()/int64(time.Minute) - 1 // the period before the boundary

	// enc: a segment of key k followed by one of key k+1, when the test
	// saw enc before the boundary.
	h := w.history("enc")
	if len(h) > 0 && h[0].PDT.Before(boundary) {
		rotated := false
		for i := 1; i < len(h); i++ {
			if h[i-1].Key == k && h[i].Key == k+1 && h[i].MSN == h[i-1].MSN+1 {
				rotated = true
			}
		}
		if !rotated {
			t.Errorf("enc: no segment of key %d followed by one of key %d: %+v", k, k+1, h)
		}
	}
	// The player kept playing across the rotation.
	byURL := map[string]seenSegment{}
	for _, s := range h {
		byURL[hlstest.ResolveURI(d.base+"/enc/index.m3u8", s.URI)] = s
	}
	opened, err := player.stop()
	if err != nil {
		t.Errorf("the ffmpeg player: %v", err)
	}
	played := map[int64]int{}
	for _, u := range opened {
		if s, ok := byURL[u]; ok {
			played[s.Key]++
		}
	}
	if player.started.Before(boundary.Add(-time.Second)) {
		if played[k] == 0 || played[k+1] < 2 {
			t.Errorf("ffmpeg, playing since before the rotation, opened segments of keys %v; want both %d and %d", played, k, k+1)
		} else {
			t.Logf("ffmpeg played across the key rotation: segments by key %v", played)
		}
	} else {
		t.Logf("the boundary came before the player started: ffmpeg played segments by key %v", played)
	}

	// mid: nothing of the new period listed while the CAS gives no key.
	before := len(w.history("mid"))
	for _, s := range w.history("mid") {
		if !s.PDT.Before(boundary) {
			t.Errorf("mid listed segment %d of %s, its key refused", s.MSN, s.PDT.Format(time.RFC3339Nano))
		}
	}
	label := `{stream="mid"}`
	errs := d.metric("slabcast_drm_key_errors_total" + label)
	if v := d.metric("slabcast_drm_segments_withheld_total" + label); v < 3 {
		t.Errorf("mid: %v segments withheld since the boundary, want >= 3", v)
	}
	cas.set("mid", "ok")
	got := w.waitListed(t, "mid", 3, 12*time.Second, func(s seenSegment) bool { return !s.PDT.Before(boundary) })
	if got[0].Key != k+1 || before > 0 && !got[0].Discontinuity {
		t.Errorf("mid's first segment after the gap: key %d discontinuity %v, want key %d after a discontinuity", got[0].Key, got[0].Discontinuity, k+1)
	}
	if errs < 1 {
		t.Errorf("mid: key_errors %v", errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// ffmpeg starts three segments from the live edge: past the gap, which
	// it would read as a continuity error (it ignores EXT-X-DISCONTINUITY).
	if err := hlstest.Decode(ctx, d.base+"/mid/index.m3u8", 2); err != nil {
		t.Errorf("mid after its key came: %v", err)
	}

	// down: its CAS down since before the boundary, it goes on with the
	// key of the new period, fetched ahead of time.
	if !slices.ContainsFunc(w.history("down"), func(s seenSegment) bool { return s.Key == k+1 }) {
		t.Errorf("down, its CAS down, listed nothing of key %d: %+v", k+1, w.history("down"))
	}
}

// ---- TestOnPlay ----

// playBackend is an on_play backend: it records every request and answers
// by the token: "ok…" 200 (X-AuthDuration 120), "brief" 200 for 1 s,
// "slow…" 200 after 2.5 s, "moved" 302, anything else 403.
type playBackend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []url.Values
}

const movedTo = "http://127.0.0.1:1/elsewhere/index.m3u8"

func startPlayBackend(t *testing.T) *playBackend {
	b := &playBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		b.mu.Lock()
		b.reqs = append(b.reqs, q)
		b.mu.Unlock()
		tok := q.Get("token")
		switch {
		case strings.HasPrefix(tok, "slow"):
			time.Sleep(2500 * time.Millisecond)
			w.Header().Set("X-AuthDuration", "30")
		case strings.HasPrefix(tok, "ok"):
			w.Header().Set("X-AuthDuration", "120")
		case tok == "brief":
			w.Header().Set("X-AuthDuration", "1")
		case tok == "moved":
			w.Header().Set("Location", movedTo)
			w.WriteHeader(http.StatusFound)
			return
		default:
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// asked returns the requests for stream name with token tok.
func (b *playBackend) asked(name, tok string) []url.Values {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []url.Values
	for _, q := range b.reqs {
		if q.Get("name") == name && q.Get("token") == tok {
			out = append(out, q)
		}
	}
	return out
}

// TestOnPlay: playback authorization by Flussonic's on_play contract, for
// a drm stream (playlist, segments, keys) and a clear one (/mpegts).
//
//   - allow: the backend is asked once per session (name, proto, ip, token,
//     session_id, request_type=new_session) and its answer holds for
//     X-AuthDuration; the token is on every segment and key URI, escaped;
//     ffmpeg plays with it; the same URLs without the token are refused.
//   - deny: playlist, segment, key, /mpegts: nothing but 403s, the backend
//     asked once.
//   - redirect: 302 to the backend's Location.
//   - update_session once X-AuthDuration ran out, same session_id.
//   - backend down (nothing listening) and slow (over 2 s): new sessions
//     refused, an allowed one kept; with on_play_backend_down allow
//     (applied by SIGHUP), new sessions let in.
//   - no token in the daemon's log.
func TestOnPlay(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	be := startPlayBackend(t)
	be2 := startPlayBackend(t) // closed mid-test: down for sessions it allowed
	cas := newCAS(t)
	cas.start()
	dead := freePort(t, "tcp")
	const group = "udp://239.4.11.2:5000"
	d := startDaemon(t, fmt.Sprintf(`on_play %[2]s/auth?site=1;
stream paid { input %[1]s; segment_duration 1; drm aes128 keyserver=%[3]s; }
stream open { input %[1]s; segment_duration 1; }
stream gated { input %[1]s; segment_duration 1; on_play http://127.0.0.1:%[4]d/auth; }
stream kept { input %[1]s; segment_duration 1; on_play %[5]s/auth; }
`, group, be.srv.URL, cas.url(), dead, be2.srv.URL))
	hlstest.StartSender(t, hlstest.SenderOptions{URL: group, Video: "h264"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const tok = "ok-5e1f0c"
	pl := d.base + "/paid/index.m3u8?token=" + tok
	waitSegments(t, pl, 3, 20*time.Second)
	p, err := hlstest.FetchPlaylist(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := keyed(p)
	if err != nil {
		t.Fatal(err)
	}
	segPath := strings.TrimSuffix(segs[0].URI, "?token="+tok) // relative to /paid/

	t.Run("allow", func(t *testing.T) {
		for _, s := range segs {
			if !strings.HasSuffix(s.URI, "?token="+tok) || !strings.HasSuffix(s.KeyURI, ".key?token="+tok) {
				t.Errorf("segment %d: URI %q key %q, want ?token=%s on both", s.MSN, s.URI, s.KeyURI, tok)
			}
			if _, _, err := fetchCiphertext(ctx, pl, "paid", s); err != nil {
				t.Error(err)
			}
			resp, body, err := get(ctx, hlstest.ResolveURI(pl, s.KeyURI), 1<<10)
			if want := casKey("paid", 0); err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want[:]) {
				t.Errorf("key %s: %v %v", s.KeyURI, resp.Status, err)
			}
		}
		if err := hlstest.Decode(ctx, pl, 3); err != nil {
			t.Errorf("ffmpeg with the token: %v", err)
		}
		// One question for the whole session, however many requests.
		q := be.asked("paid", tok)
		if len(q) != 1 {
			t.Fatalf("the backend was asked %d times for one session within X-AuthDuration: %v", len(q), q)
		}
		sid := q[0].Get("session_id")
		if q[0].Get("proto") != "hls" || q[0].Get("ip") != "127.0.0.1" || q[0].Get("request_type") != "new_session" ||
			q[0].Get("site") != "1" || !regexp.MustCompile(`^[0-9a-f]{8,}$`).MatchString(sid) {
			t.Errorf("the backend was asked %v", q[0])
		}
		// Without the token, the same URLs are another session, refused.
		for _, u := range []string{d.base + "/paid/index.m3u8", d.base + "/paid/" + segPath, d.base + "/paid/key/0.key"} {
			if resp, _, err := get(ctx, u, 1<<10); err != nil || resp.StatusCode != 403 {
				t.Errorf("%s without the token: %v %v, want 403", u, resp.Status, err)
			}
		}
		// A token with characters to escape reaches the backend as it was
		// given, and every URI as the player must send it.
		odd := "ok a&b=c/ü+%"
		plOdd := d.base + "/paid/index.m3u8?token=" + url.QueryEscape(odd)
		p, err := hlstest.FetchPlaylist(ctx, plOdd)
		if err != nil {
			t.Fatal(err)
		}
		if q := be.asked("paid", odd); len(q) != 1 {
			t.Errorf("the backend got the token %q %d times", odd, len(q))
		}
		oddSegs, err := keyed(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range oddSegs {
			if !strings.HasSuffix(s.URI, "?token="+url.QueryEscape(odd)) || !strings.HasSuffix(s.KeyURI, "?token="+url.QueryEscape(odd)) {
				t.Errorf("segment %d: URI %q key %q, want the token escaped", s.MSN, s.URI, s.KeyURI)
			}
		}
		if resp, _, err := get(ctx, hlstest.ResolveURI(plOdd, oddSegs[0].URI), 64<<20); err != nil || resp.StatusCode != 200 {
			t.Errorf("a segment by its URI with the escaped token: %v %v", resp.Status, err)
		}
		// /mpegts of a clear stream, with proto=mpegts.
		resp, body, err := get(ctx, d.base+"/open/mpegts?token="+tok, 188*64)
		if err != nil || resp.StatusCode != 200 || !hlstest.FirstPacketIsPAT(body) {
			t.Errorf("/open/mpegts allowed: %v %v", resp.Status, err)
		}
		if q := be.asked("open", tok); len(q) != 1 || q[0].Get("proto") != "mpegts" {
			t.Errorf("the backend was asked %v for /open/mpegts", q)
		}
	})

	t.Run("deny", func(t *testing.T) {
		const no = "no-1b2c"
		for _, u := range []string{"/paid/index.m3u8", "/paid/" + segPath, "/paid/key/0.key", "/paid/mpegts", "/open/mpegts", "/open/index.m3u8"} {
			resp, body, err := get(ctx, d.base+u+"?token="+no, 64<<10)
			if err != nil || resp.StatusCode != 403 || looksLikeTS(body) || len(body) > 100 {
				t.Errorf("%s denied: %v %v, %d bytes, want a short 403", u, resp.Status, err, len(body))
			}
		}
		if q := be.asked("paid", no); len(q) != 1 || q[0].Get("request_type") != "new_session" {
			t.Errorf("the backend was asked %v for a denied session (a denial is remembered)", q)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		for _, u := range []string{"/paid/index.m3u8", "/paid/" + segPath} {
			resp, _, err := get(ctx, d.base+u+"?token=moved", 1<<10)
			if err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != movedTo {
				t.Errorf("%s: %v %v Location %q, want 302 to %s", u, resp.Status, err, resp.Header.Get("Location"), movedTo)
			}
		}
	})

	t.Run("update_session", func(t *testing.T) {
		u := d.base + "/paid/index.m3u8?token=brief"
		if resp, _, err := get(ctx, u, 1<<20); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp.Status, err)
		}
		time.Sleep(1300 * time.Millisecond) // X-AuthDuration: 1
		if resp, _, err := get(ctx, u, 1<<20); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp.Status, err)
		}
		q := be.asked("paid", "brief")
		if len(q) != 2 || q[0].Get("request_type") != "new_session" || q[1].Get("request_type") != "update_session" ||
			q[0].Get("session_id") != q[1].Get("session_id") {
			t.Errorf("asked %v, want new_session then update_session of one session_id", q)
		}
	})

	t.Run("backend_down", func(t *testing.T) {
		// Nothing listens at gated's backend: a new session is refused.
		if resp, _, err := get(ctx, d.base+"/gated/index.m3u8?token="+tok, 1<<10); err != nil || resp.StatusCode != 403 {
			t.Errorf("gated, backend down: %v %v, want 403", resp.Status, err)
		}
		// A backend slower than 2 s is down.
		start := time.Now()
		resp, _, err := get(ctx, d.base+"/paid/index.m3u8?token=slow-1", 1<<10)
		took := time.Since(start)
		if err != nil || resp.StatusCode != 403 || took < 1900*time.Millisecond || took > 3500*time.Millisecond {
			t.Errorf("slow backend: %v %v after %v, want 403 after 2 s", resp.Status, err, took)
		}
		// A session the backend allowed outlives its outage.
		keptPL := d.base + "/kept/index.m3u8?token=brief"
		waitSegments(t, keptPL, 1, 15*time.Second)
		be2.srv.Close()
		time.Sleep(1200 * time.Millisecond) // its X-AuthDuration: 1
		if resp, _, err := get(ctx, keptPL, 1<<20); err != nil || resp.StatusCode != 200 {
			t.Errorf("kept, allowed before its backend went down: %v %v, want 200", resp.Status, err)
		}
		if resp, _, err := get(ctx, d.base+"/kept/index.m3u8?token=ok-new", 1<<10); err != nil || resp.StatusCode != 403 {
			t.Errorf("kept, a new session with its backend down: %v %v, want 403", resp.Status, err)
		}

		// on_play_backend_down allow: new sessions are let in.
		text, err := os.ReadFile(d.conf)
		if err != nil {
			t.Fatal(err)
		}
		writeConf(t, d.conf, strings.Replace(string(text), "on_play ", "on_play_backend_down allow;\non_play ", 1))
		d.cmd.Process.Signal(syscall.SIGHUP)
		waitLog(t, d, "reload: 0 added, 0 removed, 0 changed")
		if resp, body, err := get(ctx, d.base+"/gated/index.m3u8?token=ok-other", 1<<20); err != nil || resp.StatusCode != 200 {
			t.Errorf("gated, backend down, policy allow: %v %v %s", resp.Status, err, body)
		}
		start = time.Now()
		resp, _, err = get(ctx, d.base+"/paid/index.m3u8?token=slow-2", 1<<20)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("slow backend, policy allow: %v %v after %v, want 200", resp.Status, err, time.Since(start))
		}
	})

	// Tokens are secrets: none reaches the log.
	for _, s := range []string{tok, "no-1b2c", "slow-1", "ok-other", "ok a&b", url.QueryEscape("ok a&b=c/ü+%"), "brief", "token="} {
		if strings.Contains(d.Log(), s) {
			t.Errorf("the log holds %q:\n%s", s, d.Log())
		}
	}
}
