package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/hls"
	"github.com/slabcast/slabcast/internal/logcap"
	"github.com/slabcast/slabcast/pipeline"
)

const defaultConfig = "/etc/slabcast/slabcast.conf"

// parseOptions validates input URLs while the config is parsed, so a bad URL
// is reported at its line and column.
var parseOptions = config.Options{CheckInput: checkInput}

func runDaemon(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("c", defaultConfig, "config `FILE`")
	group := fs.String("ctl-group", "", "`GROUP` owning the control socket (mode 0660), so its members may use slabcast ctl")
	logFormat := fs.String("log-format", "text", "`FORMAT` of log lines on standard error: text, or json (one log/slog record a line: time, level, msg, and stream when the line is about one)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: slabcast run [-c FILE] [-ctl-group GROUP] [-log-format text|json]\n\n"+
			"Runs the daemon: joins every stream's input and serves HLS, HTTP MPEG-TS\n"+
			"and /metrics on the http address. SIGHUP re-reads FILE and applies the\n"+
			"difference; SIGTERM or SIGINT stops.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*path, parseOptions)
	if err != nil {
		return err
	}
	var logf func(string, ...any)
	switch *logFormat {
	case "text":
		logf = log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds).Printf
	case "json":
		logf = jsonLogf(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	default:
		return fmt.Errorf("run: -log-format %q: want text or json", *logFormat)
	}
	// No line longer than maxLogLine, and none that input split in two,
	// whatever a caller forgot to cut (internal/logcap).
	d := &daemon{path: *path, logf: logcap.Cap(logf, maxLogLine), ctlGID: -1}
	if *group != "" {
		g, err := user.LookupGroup(*group)
		if err != nil {
			return fmt.Errorf("run: -ctl-group: %w", err)
		}
		if d.ctlGID, err = strconv.Atoi(g.Gid); err != nil {
			return fmt.Errorf("run: -ctl-group %s: gid %q", *group, g.Gid)
		}
	}
	return d.run(cfg)
}

// jsonLogf logs each line as a log/slog record: the line as msg, and the
// stream it is about ("stream NAME: ...") as stream, for a journal or a
// log shipper to filter on.
func jsonLogf(l *slog.Logger) func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if rest, ok := strings.CutPrefix(msg, "stream "); ok {
			if name, _, ok := strings.Cut(rest, ": "); ok && !strings.ContainsAny(name, " ") {
				l.Info(msg, "stream", name)
				return
			}
		}
		l.Info(msg)
	}
}

// maxLogLine is the most bytes of message a log line has.
const maxLogLine = 1024

type daemon struct {
	path string
	logf func(string, ...any)
	mu   sync.Mutex // serialises changes: control socket, SIGHUP
	// ctlGID is the control socket's group, -1 to leave it as created.
	ctlGID int
	cfg    *config.Config
	p      *pipeline.Pipeline
	sizes  videoSizes // video picture sizes for stats
	srv    *hls.Server
}

// setPlayPolicy gives the HTTP server the global on_play of cfg; it takes
// effect at once, on a reload too.
func (d *daemon) setPlayPolicy(cfg *config.Config) {
	if d.srv != nil {
		d.srv.SetPlayPolicy(hls.PlayPolicy{Backend: cfg.OnPlay, AllowWhenDown: cfg.OnPlayBackendDown == "allow"})
	}
}

func (d *daemon) run(cfg *config.Config) error {
	for _, w := range cfg.Warnings {
		d.logf("config: %s", w)
	}
	p, err := pipeline.New(pipeline.Options{CPUs: cfg.CPUs, Memory: cfg.Memory, Ring: cfg.MulticastRing, Pull: d.pull, Logf: d.logf})
	if err != nil {
		return err
	}
	defer p.Close()
	d.p, d.cfg = p, cfg
	srv := hls.New(p, d.logf, hls.Limits{MaxConns: cfg.HTTPMaxConns, MaxConnsPerIP: cfg.HTTPMaxConnsPerIP,
		StallTimeout: cfg.HTTPStallTimeout, LiveSendBuffer: cfg.HTTPSendBuffer})
	d.srv = srv
	d.setPlayPolicy(cfg)
	for _, s := range cfg.Streams {
		d.start(s)
	}
	// The control socket: refused at once if another daemon has it.
	if err := os.MkdirAll(filepath.Dir(cfg.Ctl), 0o755); err != nil {
		return fmt.Errorf("ctl %s: %w", cfg.Ctl, err)
	}
	cl, err := ctl.ListenUnix(cfg.Ctl, d.ctlGID)
	if err != nil {
		return fmt.Errorf("ctl %s: %w", cfg.Ctl, err)
	}
	cs := ctl.NewServer(d, parseOptions, d.logf)
	go cs.Serve(cl)
	defer cs.Close()
	// The HTTP listeners come last: a client (or a supervisor's health
	// check) that can connect finds the control socket there too.
	// Every http line is a listener (Flussonic's "several ports, one line
	// each"); all serve the same handler.
	var lns []net.Listener
	for _, l := range cfg.HTTP {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, x := range lns {
				x.Close()
			}
			return fmt.Errorf("http %s: %w", l.Addr, err)
		}
		lns = append(lns, ln)
	}
	addrs := make([]string, len(lns))
	for i, ln := range lns {
		addrs[i] = ln.Addr().String()
	}
	d.mountAPI(srv, cfg, lns) // /streamer/api/v3/ (console.go)
	pubs, err := d.publishListeners(cfg)
	if err != nil {
		for _, x := range lns {
			x.Close()
		}
		return err
	}
	defer pubs.Close()
	d.logf("slabcast: serving http on %s, %d streams, %d MiB slab pool", strings.Join(addrs, ", "), len(cfg.Streams), p.Pool().Size()>>20)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("http: %w", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.reload()
				continue
			}
			d.logf("slabcast: %v: stopping", sig)
			// Requests held for a first segment or a slow download get a
			// few seconds, not the minute a write timeout allows.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			srv.Shutdown(ctx)
			cancel()
			return nil
		}
	}
}

// start starts s unless it is disabled or cannot run as configured (the
// reason is logged; ctl list and show give it too).
func (d *daemon) start(s config.Stream) error {
	switch {
	case s.Disabled:
		d.logf("stream %s: disabled: not started", s.Name)
		return nil
	case s.Problem != "":
		d.logf("stream %s: not started: %s", s.Name, s.Problem)
		return nil
	}
	if err := d.p.Start(s); err != nil {
		d.logf("stream %s: %v", s.Name, err)
		return err
	}
	return nil
}

// restart puts s in place of the running stream of its name, if any. The
// pipeline replaces it in one step, so a player asking meanwhile waits for
// the new stream's first segment rather than hearing that it does not
// exist; a stream that cannot run now is stopped.
func (d *daemon) restart(s config.Stream) error {
	if d.p.Lookup(s.Name) == nil {
		return d.start(s)
	}
	if s.Disabled || s.Problem != "" {
		d.p.Stop(s.Name)
		return d.start(s) // logs why it does not start
	}
	if err := d.p.Replace(s); err != nil {
		d.logf("stream %s: %v", s.Name, err)
		return err
	}
	return nil
}

// reload applies a changed config file (SIGHUP).
func (d *daemon) reload() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.reloadLocked(); err != nil {
		d.logf("reload: %v; keeping the running config", err)
	}
}

// reloadLocked applies the difference between the running config and the
// file: streams that did not change keep their sockets, slabs, media
// sequence and clients. A bad file changes nothing.
func (d *daemon) reloadLocked() (config.Change, error) {
	cfg, err := config.Load(d.path, parseOptions)
	if err != nil {
		return config.Change{}, err
	}
	for _, w := range cfg.Warnings {
		d.logf("config: %s", w)
	}
	ch := config.Diff(d.cfg, cfg)
	// on_play's globals apply at once (setPlayPolicy); the others wait for
	// a restart.
	if later := slices.DeleteFunc(slices.Clone(ch.Globals), func(g string) bool { return strings.HasPrefix(g, "on_play") }); len(later) > 0 {
		d.logf("reload: %v changed; that takes a restart, the rest is applied now", later)
	}
	for _, name := range ch.Removed {
		if d.p.Lookup(name) == nil {
			continue // never started: disabled, or it could not run
		}
		if err := d.p.Stop(name); err != nil {
			d.logf("reload: %v", err)
		}
	}
	for _, name := range ch.Changed {
		if s, ok := cfg.Stream(name); ok {
			d.restart(s)
		}
	}
	for _, name := range ch.Added {
		if s, ok := cfg.Stream(name); ok {
			d.start(s)
		}
	}
	d.cfg = cfg
	d.setPlayPolicy(cfg)
	d.logf("reload: %d added, %d removed, %d changed", len(ch.Added), len(ch.Removed), len(ch.Changed))
	return ch, nil
}
