package drm

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/bench/delivery"
	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// Tools returns an error wrapping ErrMissingTool naming the first of the
// tools a Run needs that is not installed.
func Tools(cfg Config) error {
	return daemon.Tools(cfg.ServerCPUs != "" || cfg.LoadCPUs != "", cfg.Bin == "" || cfg.BenchTime != "", "wrk", "ffmpeg")
}

// casKey is the key server's key for file and number: md5(file + number),
// as Flussonic's example key server might derive it.
func casKey(file string, n int64) [16]byte { return md5.Sum([]byte(file + strconv.FormatInt(n, 10))) }

// startCAS runs the key server on 127.0.0.1: GET ?file=&number= answers the
// 16 bytes of casKey. It returns its URL, a stop function and its answer
// count.
func startCAS() (string, func(), *atomic.Int64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, fmt.Errorf("drm: key server: %w", err)
	}
	var n atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		num, err := strconv.ParseInt(r.URL.Query().Get("number"), 10, 64)
		file := r.URL.Query().Get("file")
		if err != nil || file == "" {
			http.Error(w, "file and number, please", http.StatusBadRequest)
			return
		}
		k := casKey(file, num)
		n.Add(1)
		w.Write(k[:])
	})}
	go srv.Serve(l)
	return "http://" + l.Addr().String() + "/cas", func() { srv.Close() }, &n, nil
}

// Run measures cfg's cases and the Go benchmarks. It must run in a private
// network namespace (see the package doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Duration <= 0 || cfg.Pairs <= 0 || len(cfg.Cases) == 0 || cfg.Connections <= 0 || cfg.Threads <= 0 ||
		cfg.SegmentDuration <= 0 || cfg.SegmentCount <= 0 {
		return nil, errors.New("drm: config needs Duration, Pairs, Cases, Connections, Threads, SegmentDuration and SegmentCount")
	}
	if err := Tools(cfg); err != nil {
		return nil, err
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cores, err := proc.CountCPUs(cfg.ServerCPUs)
	if err != nil {
		return nil, err
	}
	if _, err := proc.CountCPUs(cfg.LoadCPUs); err != nil {
		return nil, err
	}
	rep := &Report{Run: report.Begin(), Config: cfg, GoProcs: cores}
	rep.Wrk = firstLine(exec.Command("wrk", "-v").CombinedOutput())
	rep.Build = "the binary " + cfg.Bin
	if cfg.Bin == "" {
		rep.Build = daemon.DescribeTree(cfg.Root)
	}
	work, err := os.MkdirTemp("", "slabbench-drm-")
	if err != nil {
		return nil, fmt.Errorf("drm: %w", err)
	}
	defer os.RemoveAll(work)

	// The Go benchmarks first, on a quiet machine.
	if cfg.BenchTime != "" {
		logf("the pipeline's encryption benchmarks (-benchtime %s -count %d)", cfg.BenchTime, max(1, cfg.BenchCount))
		if rep.Micro, rep.MicroCommand, err = runMicro(ctx, cfg, work); err != nil {
			return nil, err
		}
		for _, m := range rep.Micro {
			logf("%-26s %12.1f ns/op %8.1f MB/s %v", m.Name, m.NsPerOp, m.MBps, m.Metrics)
		}
	}

	casURL, stopCAS, asked, err := startCAS()
	if err != nil {
		return nil, err
	}
	defer stopCAS()
	bin, err := daemon.Binary(ctx, cfg.Bin, cfg.Root, work, logf)
	if err != nil {
		return nil, err
	}
	logf("encoding a %.1f Mbit/s clip with ffmpeg", cfg.Bitrate/1e6)
	feed, err := clip.Feed(ctx, work, cfg.Bitrate)
	if err != nil {
		return nil, err
	}
	input := "udp://" + cfg.Group
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: work,
		Streams: []daemon.Stream{
			{Name: Clear, Input: input, Feed: feed},
			{Name: Encrypted, Input: input, Lines: []string{"drm aes128 keyserver=" + casURL + ";"}},
		},
		SegmentDuration: time.Duration(cfg.SegmentDuration) * time.Second, SegmentCount: cfg.SegmentCount,
		CPUs: cfg.ServerCPUs, FeedCPUs: cfg.LoadCPUs})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	logf("slabcast pid %d on %s; waiting for %d segments in each playlist", d.PID(), d.Base(), cfg.SegmentCount)
	wait := time.Duration(cfg.SegmentCount*cfg.SegmentDuration*2)*time.Second + 15*time.Second
	for _, s := range []string{Clear, Encrypted} {
		if _, err := d.WaitSegments(ctx, s, cfg.SegmentCount, wait); err != nil {
			return nil, err
		}
	}
	if err := checkCiphertext(ctx, d); err != nil {
		return nil, err
	}
	if m, err := d.Metrics(ctx); err == nil {
		rep.Input = m.Stream("slabcast_input_bitrate", Clear, "")
	}

	for _, c := range cfg.Cases {
		res := Result{Case: c}
		// A warm-up run, not counted: the first run of a case is slower
		// (connections, page cache, the Go runtime's heap growing).
		paths, _, err := snapshot(ctx, d, Clear, c)
		if err != nil {
			return nil, err
		}
		if _, err := delivery.Wrk(ctx, work, d.Base(), paths, cfg.Connections, cfg.Threads, min(cfg.Duration, 2*time.Second), cfg.LoadCPUs); err != nil {
			return nil, err
		}
		for pair := range cfg.Pairs {
			snaps := map[string][]string{}
			bodies := map[string]float64{}
			for _, s := range []string{Clear, Encrypted} {
				if snaps[s], bodies[s], err = snapshot(ctx, d, s, c); err != nil {
					return nil, err
				}
			}
			order := []string{Clear, Encrypted}
			if pair%2 == 1 {
				order = []string{Encrypted, Clear}
			}
			for _, s := range order {
				m, err := measure(ctx, cfg, work, d, snaps[s])
				if err != nil {
					return nil, err
				}
				m.Stream, m.Pair, m.URLs, m.Body = s, pair, len(snaps[s]), bodies[s]
				res.Measures = append(res.Measures, m)
				l := m.Load
				logf("%-9v %-5s pair %d: %8.0f req/s %6.2f Gbit/s p50 %v p99 %v CPU %.2f cores, errors %d",
					c, s, pair, l.RPS(), l.Gbps(), l.P50, l.P99, m.Cores(), l.Errors())
			}
		}
		rep.Results = append(rep.Results, res)
	}
	rep.KeyRequests = asked.Load()
	rep.End()
	return rep, nil
}

// snapshot returns the paths wrk rotates over for stream s in case c, and
// their mean body size.
func snapshot(ctx context.Context, d *daemon.Daemon, s string, c Case) ([]string, float64, error) {
	plPath := "/" + s + "/index.m3u8"
	pl, err := d.Get(ctx, plPath)
	if err != nil {
		return nil, 0, err
	}
	if c == Playlists {
		return []string{plPath}, float64(len(pl)), nil
	}
	var paths []string
	var sum int
	for _, u := range daemon.SegmentURIs(pl) {
		p := "/" + s + "/" + u
		body, err := d.Get(ctx, p)
		if err != nil {
			return nil, 0, err
		}
		sum += len(body)
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return nil, 0, fmt.Errorf("drm: %s lists no segment", plPath)
	}
	return paths, float64(sum) / float64(len(paths)), nil
}

// checkCiphertext makes sure the encrypted stream's segments are what the
// benchmark says they are: not TS as served, and TS once decrypted with
// the key server's key and the MSN as IV; and the clear stream's are TS.
func checkCiphertext(ctx context.Context, d *daemon.Daemon) error {
	for _, s := range []string{Clear, Encrypted} {
		pl, err := d.Get(ctx, "/"+s+"/index.m3u8")
		if err != nil {
			return err
		}
		var msn uint64
		for line := range strings.Lines(string(pl)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXT-X-MEDIA-SEQUENCE:"); ok {
				msn, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		hasKey := strings.Contains(string(pl), `#EXT-X-KEY:METHOD=AES-128,URI="key/0.key"`)
		uris := daemon.SegmentURIs(pl)
		if len(uris) == 0 {
			return fmt.Errorf("drm: /%s/index.m3u8 lists no segment", s)
		}
		body, err := d.Get(ctx, "/"+s+"/"+uris[0])
		if err != nil {
			return err
		}
		ts := len(body) >= 376 && body[0] == 0x47 && body[188] == 0x47
		if s == Clear {
			if !ts || hasKey {
				return fmt.Errorf("drm: the clear stream's first segment is not cleartext TS (or its playlist has a key)")
			}
			continue
		}
		if ts || !hasKey || len(body)%aes.BlockSize != 0 {
			return fmt.Errorf("drm: the encrypted stream's first segment is not ciphertext with key/0.key (%d bytes):\n%s", len(body), pl)
		}
		key := casKey(Encrypted, 0)
		block, _ := aes.NewCipher(key[:])
		var iv [16]byte
		binary.BigEndian.PutUint64(iv[8:], msn)
		plain := make([]byte, len(body))
		cipher.NewCBCDecrypter(block, iv[:]).CryptBlocks(plain, body)
		pad := int(plain[len(plain)-1])
		if pad < 1 || pad > aes.BlockSize || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) ||
			(len(plain)-pad)%188 != 0 || plain[0] != 0x47 {
			return fmt.Errorf("drm: the encrypted stream's first segment does not decrypt to TS with the key server's key")
		}
	}
	return nil
}

// measure runs wrk over paths and reads slabcast's CPU time around it.
func measure(ctx context.Context, cfg Config, dir string, d *daemon.Daemon, paths []string) (Measure, error) {
	var m Measure
	c0, err := proc.ProcessCPU(d.PID())
	if err != nil {
		return m, err
	}
	s0, l0 := proc.ListBusy(cfg.ServerCPUs), proc.ListBusy(cfg.LoadCPUs)
	t0 := time.Now()
	l, err := delivery.Wrk(ctx, dir, d.Base(), paths, cfg.Connections, cfg.Threads, cfg.Duration, cfg.LoadCPUs)
	if err != nil {
		return m, err
	}
	m.Wall = time.Since(t0)
	c1, err := proc.ProcessCPU(d.PID())
	if err != nil {
		return m, err
	}
	m.Load, m.CPU = l, c1-c0
	m.ServerBusy, m.LoadBusy = proc.ListBusy(cfg.ServerCPUs)-s0, proc.ListBusy(cfg.LoadCPUs)-l0
	return m, nil
}

func firstLine(b []byte, _ error) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if i := strings.Index(s, " Copyright"); i > 0 {
		s = s[:i]
	}
	return s
}
