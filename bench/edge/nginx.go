package edge

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
)

// The EDIT values of deploy/nginx/slabcast-edge.conf, each rewritten once.
const (
	editPrimary   = "192.0.2.10:8080"
	editBackup    = "192.0.2.11:8080"
	editCache     = "/var/cache/nginx/slabcast"
	editListen    = "listen 80;"
	editAccessLog = "/var/log/nginx/slabcast-edge.access.log"
)

// EdgeConfig returns the edge config text with its EDIT values rewritten:
// both origins origin (the benchmark has one; the backup is never asked
// while it answers), the cache under dir/cache, the listen address
// 127.0.0.1:port and the access log dir/access.log. Each must occur once.
func EdgeConfig(text, origin string, port int, dir string) (string, error) {
	for _, r := range [][2]string{
		{editPrimary, origin},
		{editBackup, origin},
		{editCache, filepath.Join(dir, "cache")},
		{editListen, fmt.Sprintf("listen 127.0.0.1:%d;", port)},
		{editAccessLog, filepath.Join(dir, "access.log")},
	} {
		if n := strings.Count(text, r[0]); n != 1 {
			return "", fmt.Errorf("edge: the edge config holds %q %d times, want once (an EDIT value the benchmark rewrites)", r[0], n)
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	return text, nil
}

// wrapper is the nginx.conf around the edge config (what Debian's
// /etc/nginx/nginx.conf is around conf.d/): worker processes, the error
// log and every temporary path under dir.
const wrapper = `worker_processes %[1]d;
error_log %[2]s/error.log warn;
events { worker_connections 8192; }
http {
    client_body_temp_path %[2]s/tmp/client_body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    include %[2]s/slabcast-edge.conf;
}
`

// edgeServer is a running nginx with the edge config.
type edgeServer struct {
	cmd       *exec.Cmd
	base      string
	dir       string
	accessLog string
	done      chan struct{}
	err       error
}

// startEdge writes the edge config (from conf, in front of origin) and
// its wrapper into dir, checks them with nginx -t and runs nginx in the
// foreground with workers worker processes, pinned to cpus when not
// empty, until stop. It answers once /monitoring/liveness comes through.
func startEdge(ctx context.Context, dir, conf, origin string, workers int, cpus string) (*edgeServer, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, fmt.Errorf("edge: %w: nginx", ErrMissingTool)
	}
	text, err := os.ReadFile(conf)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	// nginx's workers run as nobody under root: dir (and the directories
	// above it) must be theirs to walk.
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	port, err := daemon.FreePort()
	if err != nil {
		return nil, err
	}
	edge, err := EdgeConfig(string(text), origin, port, dir)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "slabcast-edge.conf"), []byte(edge), 0o644); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, fmt.Appendf(nil, wrapper, workers, dir), 0o644); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	global := "pid " + filepath.Join(dir, "nginx.pid") + ";"
	if out, err := exec.CommandContext(ctx, bin, "-t", "-p", dir, "-c", main, "-g", global).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("edge: nginx -t: %v: %s", err, strings.TrimSpace(string(out)))
	}
	log, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	defer log.Close()
	argv := daemon.Pinned(cpus, bin, "-p", dir, "-c", main, "-g", "daemon off; "+global)
	e := &edgeServer{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, accessLog: filepath.Join(dir, "access.log"), done: make(chan struct{})}
	e.cmd = exec.Command(argv[0], argv[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("edge: starting nginx: %w", err)
	}
	go func() { e.err = e.cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-e.done:
			return nil, fmt.Errorf("edge: nginx exited: %v: %s", e.err, e.logs())
		case <-ctx.Done():
			e.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := daemon.GetURL(ctx, e.base+"/monitoring/liveness"); err == nil {
			return e, nil
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("edge: nginx did not answer within 10 s: %s", e.logs())
		}
	}
}

func (e *edgeServer) logs() string {
	a, _ := os.ReadFile(filepath.Join(e.dir, "stderr.log"))
	b, _ := os.ReadFile(filepath.Join(e.dir, "error.log"))
	s := string(a) + string(b)
	if len(s) > 2048 {
		s = "…" + s[len(s)-2048:]
	}
	return s
}

// cpu is the master's and workers' CPU time.
func (e *edgeServer) cpu() (time.Duration, error) { return proc.TreeCPU(e.cmd.Process.Pid) }

// stop ends nginx by its master's PID: SIGINT (fast shutdown), SIGKILL
// after 5 s.
func (e *edgeServer) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-e.done
	}
}

// logLine is one line of the edge's access log (the slabcast_edge format).
type logLine struct {
	At       time.Time
	URI      string
	Status   int
	Cache    string // $upstream_cache_status, "-" when none
	Upstream string // $upstream_addr, "-" when the origin was not asked
}

var logLineRE = regexp.MustCompile(`^\S+ \[[^\]]*\] (\d+\.\d+) "\S+ (\S+) [^"]*" (\d+) \d+ cache=(\S*) upstream=(.*) upstream_status=`)

// ParseLog reads access-log lines in the slabcast_edge format; lines in
// no known format are skipped and counted.
func ParseLog(text string) (lines []logLine, bad int) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := logLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			bad++
			continue
		}
		sec, _ := strconv.ParseFloat(m[1], 64)
		code, _ := strconv.Atoi(m[3])
		lines = append(lines, logLine{At: time.UnixMicro(int64(sec * 1e6)), URI: m[2], Status: code, Cache: m[4], Upstream: m[5]})
	}
	return lines, bad
}

// Tally counts lines from..to (at ≥ from, < to): the requests the edge
// passed to an origin by kind, the distinct media URLs among them, and
// every answer by cache status.
func Tally(lines []logLine, from, to time.Time) (o Origin) {
	o.Cache = map[string]int{}
	seen := map[string]bool{}
	for _, l := range lines {
		if l.At.Before(from) || !l.At.Before(to) {
			continue
		}
		o.Cache[l.Cache]++
		if l.Upstream == "-" || l.Upstream == "" {
			continue
		}
		path, _, _ := strings.Cut(l.URI, "?")
		switch {
		case strings.HasSuffix(path, ".m3u8") || strings.HasSuffix(path, ".mpd"):
			o.Playlists++
		case strings.HasSuffix(path, ".ts") || strings.HasSuffix(path, ".m4s") || strings.HasSuffix(path, ".mp4"):
			o.Segments++
			if !seen[path] {
				seen[path] = true
				o.Distinct++
			}
		default:
			o.Other++
		}
	}
	return o
}
