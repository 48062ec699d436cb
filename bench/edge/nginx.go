package edge

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/internal/nginxedge"
)

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
	// Both origins are the one slabcast: the backup is never asked while
	// it answers.
	edge, err := nginxedge.Config(string(text), origin, origin, port, dir)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "slabcast-edge.conf"), []byte(edge), 0o644); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, []byte(nginxedge.Main(dir, workers)), 0o644); err != nil {
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
	e := &edgeServer{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, accessLog: nginxedge.AccessLog(dir), done: make(chan struct{})}
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

// ParseLog reads access-log lines in the slabcast_edge format; lines in
// no known format are skipped and counted.
func ParseLog(text string) (lines []nginxedge.Line, bad int) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l, ok := nginxedge.ParseLine(sc.Text())
		if !ok {
			bad++
			continue
		}
		lines = append(lines, l)
	}
	return lines, bad
}

// Tally counts lines from..to (at ≥ from, < to): the requests the edge
// passed to an origin by kind, the distinct media URLs among them, and
// every answer by cache status.
func Tally(lines []nginxedge.Line, from, to time.Time) (o Origin) {
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
