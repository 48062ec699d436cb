package delivery

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
)

// nginxConf is the baseline's whole config: static files from a tmpfs
// directory with sendfile, the same headers slabcast sends, no access log,
// open file descriptors cached and keep-alive without a request limit (so
// wrk's connections live as long against both servers).
const nginxConf = `daemon off;
master_process on;
worker_processes %d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 65;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4 m4s; application/dash+xml mpd; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:%[3]d;
        root %[4]s;
        location ~ \.(m3u8|mpd)$ {
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }
        location / {
            add_header Cache-Control "public, max-age=31536000, immutable";
            add_header Access-Control-Allow-Origin *;
        }
    }
}
`

// nginx is a running nginx (master and workers) serving a directory.
type nginx struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
	err  error
	dir  string
}

// startNginx writes a config into dir and runs nginx in the foreground with
// workers worker processes, pinned to cpus when not empty; it answers once
// probe (a path under root) can be fetched.
func startNginx(ctx context.Context, dir, root string, workers int, cpus, probe string) (*nginx, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, fmt.Errorf("delivery: nginx: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	port, err := daemon.FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, workers, dir, port, root), 0o644); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	argv := daemon.Pinned(cpus, bin, "-p", dir, "-c", conf)
	n := &nginx{base: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{}), dir: dir}
	n.cmd = exec.Command(argv[0], argv[1:]...)
	logf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	defer logf.Close()
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("delivery: start nginx: %w", err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-n.done:
			return nil, fmt.Errorf("delivery: nginx exited: %v: %s", n.err, n.logs())
		case <-ctx.Done():
			n.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := daemon.GetURL(ctx, n.base+probe); err == nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("delivery: nginx did not serve %s within 10 s: %s", probe, n.logs())
		}
	}
}

func (n *nginx) logs() string {
	a, _ := os.ReadFile(filepath.Join(n.dir, "stderr.log"))
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	s := string(a) + string(b)
	if len(s) > 2048 {
		s = "…" + s[len(s)-2048:]
	}
	return s
}

// pid is the master's process id; its workers are its children.
func (n *nginx) pid() int { return n.cmd.Process.Pid }

// cpu is the master's and workers' CPU time.
func (n *nginx) cpu() (time.Duration, error) { return proc.TreeCPU(n.pid()) }

// NginxServer is a running nginx for the suite's other benchmarks
// (bench/packaging): the baseline's config, serving a directory.
type NginxServer struct{ n *nginx }

// StartNginx runs nginx with the baseline's config (sendfile, the same
// headers as slabcast: playlists and manifests no-cache, media immutable)
// serving root, its config and logs in dir, with workers worker processes
// pinned to cpus when not empty; it answers once probe (a path under root)
// can be fetched. Stop it once.
func StartNginx(ctx context.Context, dir, root string, workers int, cpus, probe string) (*NginxServer, error) {
	n, err := startNginx(ctx, dir, root, workers, cpus, probe)
	if err != nil {
		return nil, err
	}
	return &NginxServer{n}, nil
}

// Base is nginx's HTTP root, http://127.0.0.1:PORT.
func (n *NginxServer) Base() string { return n.n.base }

// CPU is the master's and workers' CPU time.
func (n *NginxServer) CPU() (time.Duration, error) { return n.n.cpu() }

// Stop ends nginx by its master's PID.
func (n *NginxServer) Stop() { n.n.stop() }

// NginxVersion is `nginx -v`'s version, "" when it cannot tell.
func NginxVersion() string { return firstLine(exec.Command("nginx", "-v").CombinedOutput()) }

// stop ends nginx by its master's PID: SIGINT (fast shutdown: the master
// ends its workers), SIGKILL after 5 s.
func (n *nginx) stop() {
	n.cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}
