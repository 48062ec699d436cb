package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// clock gives every sample one time base: nanoseconds since epoch, on the
// monotonic clock.
type clock struct{ epoch time.Time }

func (c clock) now() int64 { return int64(time.Since(c.epoch)) }

// newClient is an HTTP client with one keep-alive connection, no
// compression and no proxy.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
	}
}

// get fetches url and reads its body into buf's reuse, returning the body
// size; a non-200 answer is an error.
func get(ctx context.Context, c *http.Client, url string, hdr func(*http.Request), keep bool, buf []byte) (body []byte, n int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	if hdr != nil {
		hdr(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var out []byte
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if keep {
			out = append(out, buf[:k]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, n, fmt.Errorf("GET %s: %w", url, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, n, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return out, n, nil
}

// lastSegment returns the URI of the newest segment a playlist lists.
func lastSegment(playlist []byte) (string, bool) {
	last := ""
	for line := range strings.Lines(string(playlist)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			last = line
		}
	}
	return last, last != ""
}

// fetchSample is one viewer's turn: the playlist, then the newest segment.
type fetchSample struct {
	at        int64         // request start, clock ns
	pl, seg   time.Duration // each answer's full round trip
	bytes     int64         // segment body
	late, err bool          // started more than a period after its turn; failed
}

// hlsLoad is the paced HLS clients: fetchers goroutines, fetcher k taking
// turns k, k+F, k+2F, … of a schedule of rate turns a second, turn j on
// channel j mod N.
type hlsLoad struct {
	clk    clock
	base   string
	names  []string
	rate   float64
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	first  string // first error
	perFet [][]fetchSample
}

func startHLS(clk clock, base string, names []string, rate float64, fetchers int) *hlsLoad {
	l := &hlsLoad{clk: clk, base: base, names: names, rate: rate, stop: make(chan struct{}),
		perFet: make([][]fetchSample, fetchers)}
	period := time.Duration(float64(fetchers) / rate * float64(time.Second))
	start := clk.now()
	for k := range fetchers {
		l.perFet[k] = make([]fetchSample, 0, 1<<14)
		l.wg.Go(func() { l.run(k, fetchers, start+int64(period)*int64(k)/int64(fetchers), period) })
	}
	return l
}

func (l *hlsLoad) fail(err error) {
	l.mu.Lock()
	if l.first == "" {
		l.first = err.Error()
	}
	l.mu.Unlock()
}

func (l *hlsLoad) run(k, fetchers int, next int64, period time.Duration) {
	c := newClient()
	defer c.CloseIdleConnections()
	buf := make([]byte, 64<<10)
	ctx := context.Background()
	for j := 0; ; j++ {
		late := false
		if wait := time.Duration(next - l.clk.now()); wait > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(wait):
			}
		} else if -wait > period {
			late, next = true, l.clk.now() // behind: go on from now, no burst
		}
		select {
		case <-l.stop:
			return
		default:
		}
		name := l.names[(j*fetchers+k)%len(l.names)]
		s := fetchSample{at: l.clk.now(), late: late}
		pl, _, err := get(ctx, c, l.base+"/"+name+"/index.m3u8", nil, true, buf)
		s.pl = time.Duration(l.clk.now() - s.at)
		if err == nil {
			uri, ok := lastSegment(pl)
			if !ok {
				err = fmt.Errorf("/%s/index.m3u8 lists no segment", name)
			} else {
				if !strings.HasPrefix(uri, "/") {
					uri = "/" + name + "/" + uri
				}
				t := l.clk.now()
				_, s.bytes, err = get(ctx, c, l.base+uri, nil, false, buf)
				s.seg = time.Duration(l.clk.now() - t)
			}
		}
		if err != nil {
			s.err = true
			l.fail(err)
		}
		l.perFet[k] = append(l.perFet[k], s)
		next += int64(period)
	}
}

// end stops the clients and waits for them.
func (l *hlsLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

// in returns the samples that started in [from, to).
func (l *hlsLoad) in(from, to int64) []fetchSample {
	var out []fetchSample
	for _, f := range l.perFet {
		for _, s := range f {
			if s.at >= from && s.at < to {
				out = append(out, s)
			}
		}
	}
	return out
}

// streamsAnswer is what a poll answer must hold: the stream list, each
// stream with its stats.
type streamsAnswer struct {
	EstimatedCount *int `json:"estimated_count"`
	Streams        []struct {
		Name  string `json:"name"`
		Stats *struct {
			Status string `json:"status"`
		} `json:"stats"`
	} `json:"streams"`
}

// checkAnswer decodes a poll answer and returns its stream count and how
// many of them run; an answer that is not the stream list, lists fewer
// than want streams or a stream without stats is an error.
func checkAnswer(body []byte, want int) (streams, running int, err error) {
	var a streamsAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, 0, fmt.Errorf("answer is not JSON: %w", err)
	}
	if a.EstimatedCount == nil {
		return 0, 0, errors.New("answer has no estimated_count")
	}
	if len(a.Streams) < want {
		return len(a.Streams), 0, fmt.Errorf("answer lists %d streams, want %d", len(a.Streams), want)
	}
	for _, s := range a.Streams {
		if s.Stats == nil || s.Stats.Status == "" {
			return len(a.Streams), 0, fmt.Errorf("stream %q has no stats.status", s.Name)
		}
		if s.Stats.Status == "running" {
			running++
		}
	}
	return len(a.Streams), running, nil
}

// pollSample is one poll.
type pollSample struct {
	at               int64
	lat              time.Duration // request to the answer's last byte
	size             int64
	streams, running int
	err, newConn     bool
	body             []byte // kept until check decodes it
}

// pollers are the consoles: each asks for the stream list every period,
// poller i at phase i/n of it, each on its own keep-alive connection,
// kept open (idle) between their windows.
type pollers struct {
	clk           clock
	url           string
	user, pass    string
	want          int
	every         time.Duration
	clients       []*http.Client
	samples       [][]pollSample
	mu            sync.Mutex
	first         string
	stop          chan struct{}
	wg            sync.WaitGroup
	bufs          [][]byte
	exampleSize   int64
	exampleStream int
}

func newPollers(clk clock, url, user, pass string, n, want int, every time.Duration) *pollers {
	p := &pollers{clk: clk, url: url, user: user, pass: pass, want: want, every: every,
		clients: make([]*http.Client, n), samples: make([][]pollSample, n), bufs: make([][]byte, n)}
	for i := range n {
		p.clients[i] = newClient()
		p.bufs[i] = make([]byte, 64<<10)
	}
	return p
}

func (p *pollers) fail(err error) {
	p.mu.Lock()
	if p.first == "" {
		p.first = err.Error()
	}
	p.mu.Unlock()
}

// poll asks once with poller i's connection. The answer is kept for
// check, so that decoding it takes nothing from the clients' core while
// windows are measured.
func (p *pollers) poll(i int) pollSample {
	s := pollSample{at: p.clk.now()}
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { s.newConn = !ci.Reused }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	body, n, err := get(ctx, p.clients[i], p.url, func(r *http.Request) { r.SetBasicAuth(p.user, p.pass) }, true, p.bufs[i])
	s.lat, s.size, s.body = time.Duration(p.clk.now()-s.at), n, body
	if err != nil {
		s.err = true
		p.fail(err)
	}
	return s
}

// check decodes every answer kept and counts those that are not the full
// stream list as errors.
func (p *pollers) check() {
	for _, ss := range p.samples {
		for j := range ss {
			p.checkOne(&ss[j])
		}
	}
}

func (p *pollers) checkOne(s *pollSample) {
	if s.err || s.body == nil {
		return
	}
	var err error
	if s.streams, s.running, err = checkAnswer(s.body, p.want); err != nil {
		s.err = true
		p.fail(err)
	}
	s.body = nil
}

// open makes every poller's connection with one untimed poll, and checks
// the answer; it returns the first error.
func (p *pollers) open() error {
	for i := range p.clients {
		s := p.poll(i)
		p.checkOne(&s)
		if s.err {
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("api: first poll of %s: %s", p.url, p.first)
		}
		p.exampleSize, p.exampleStream = s.size, s.streams
	}
	return nil
}

// start sets the pollers going from now until end.
func (p *pollers) start() {
	p.stop = make(chan struct{})
	start := p.clk.now()
	n := len(p.clients)
	for i := range n {
		p.wg.Go(func() {
			next := start + int64(p.every)*int64(i)/int64(n)
			for {
				if wait := time.Duration(next - p.clk.now()); wait > 0 {
					select {
					case <-p.stop:
						return
					case <-time.After(wait):
					}
				}
				select {
				case <-p.stop:
					return
				default:
				}
				p.samples[i] = append(p.samples[i], p.poll(i))
				next += int64(p.every)
				if now := p.clk.now(); next < now {
					next = now // an answer took longer than a period: no burst
				}
			}
		})
	}
}

// end stops the pollers, letting a poll under way finish.
func (p *pollers) end() {
	close(p.stop)
	p.wg.Wait()
}

func (p *pollers) close() {
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

func (p *pollers) in(from, to int64) []pollSample {
	var out []pollSample
	for _, ss := range p.samples {
		for _, s := range ss {
			if s.at >= from && s.at < to {
				out = append(out, s)
			}
		}
	}
	return out
}

// fill sets w's delivery and poll figures from the samples that started in
// [from, to).
func fill(w *Window, hls *hlsLoad, pol *pollers, from, to int64) {
	var seg, pl []time.Duration
	for _, s := range hls.in(from, to) {
		if s.late {
			w.LateStart++
		}
		if s.err {
			w.FetchErrors++
			continue
		}
		w.Fetches++
		w.FetchBytes += s.bytes
		seg, pl = append(seg, s.seg), append(pl, s.pl)
	}
	w.FetchDist, w.PlaylistDist = NewDist(seg), NewDist(pl)
	w.MinStreams, w.MinRunning = -1, -1
	if pol == nil {
		return
	}
	var lat []time.Duration
	for _, s := range pol.in(from, to) {
		if s.newConn {
			w.NewConns++
		}
		if s.err {
			w.PollErrors++
			continue
		}
		w.Polls++
		w.PollBytes += s.size
		lat = append(lat, s.lat)
		if w.MinStreams < 0 || s.streams < w.MinStreams {
			w.MinStreams = s.streams
		}
		if w.MinRunning < 0 || s.running < w.MinRunning {
			w.MinRunning = s.running
		}
	}
	w.PollDist = NewDist(lat)
}
