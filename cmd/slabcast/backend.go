package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// The daemon is the control socket's backend. Changes are serialised by mu
// and acknowledged only once the config file on disk says the same: each
// is validated, written (temp file, fsync, rename), then applied. After a
// restart the daemon therefore runs what the socket last left.
var _ ctl.Backend = (*daemon)(nil)

func (d *daemon) List() []ctl.StreamStatus {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	out := make([]ctl.StreamStatus, 0, len(cfg.Streams))
	for _, s := range cfg.Streams {
		out = append(out, d.status(s))
	}
	return out
}

func (d *daemon) status(s config.Stream) ctl.StreamStatus {
	st := ctl.StreamStatus{Name: s.Name, Type: ctl.TypeStatic, Status: ctl.StatusDown}
	switch {
	case s.Live:
		st.Type = ctl.TypeLive
	case s.OnDemand:
		st.Type = ctl.TypeOnDemand
	}
	for _, in := range s.Inputs {
		st.Inputs = append(st.Inputs, in.URL)
	}
	switch ps := d.p.Lookup(s.Name); {
	case ps != nil:
		st.Status = ps.Status()
		st.ActiveInput = ps.ActiveInput()
		if p, ok := ps.Publisher(); ok {
			st.Publisher = &ctl.Publisher{Addr: p.Addr, Protocol: p.Protocol, Since: p.Since.UTC().Truncate(time.Second)}
		}
	case s.Disabled:
		st.Status = ctl.StatusDisabled
	case s.Problem != "":
		st.Status, st.Error = ctl.StatusError, s.Problem
	}
	return st
}

// Config is the running config (the HTTP API's view of it).
func (d *daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *daemon) Show(name string) (config.Stream, ctl.StreamStatus, error) {
	d.mu.Lock()
	s, ok := d.cfg.Stream(name)
	d.mu.Unlock()
	if !ok {
		return config.Stream{}, ctl.StreamStatus{}, fmt.Errorf("no stream %q", name)
	}
	return s, d.status(s), nil
}

// edit applies one change: the file first, then the pipeline. file is the
// config file the change goes to: the one holding the stream (the main
// file, or one it includes), the main file for a new stream. The whole
// config, with that file as changed, must load before anything is written.
func (d *daemon) edit(file string, change func(src []byte) ([]byte, error), apply func(cfg *config.Config) error) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, err := change(src)
	if err != nil {
		return err
	}
	opt := parseOptions
	opt.ReadFile = func(path string) ([]byte, error) {
		if path == file {
			return out, nil
		}
		return os.ReadFile(path)
	}
	cfg, err := config.Load(d.path, opt)
	if err != nil {
		return err
	}
	if err := config.WriteFileAtomic(file, out); err != nil {
		return err
	}
	d.cfg = cfg
	return apply(cfg)
}

// fileOf is the config file that holds stream name, the main file if none.
func (d *daemon) fileOf(name string) string {
	if s, ok := d.cfg.Stream(name); ok && s.File != "" {
		return s.File
	}
	return d.path
}

func (d *daemon) Add(s config.Stream) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cfg.Stream(s.Name); ok {
		return fmt.Errorf("stream %q already exists", s.Name)
	}
	return d.edit(d.path, func(src []byte) ([]byte, error) {
		return config.SetStream(d.path, src, s)
	}, func(cfg *config.Config) error {
		d.logf("ctl: added stream %s", s.Name)
		ns, _ := cfg.Stream(s.Name)
		return d.start(ns)
	})
}

func (d *daemon) Update(s config.Stream) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.cfg.Stream(s.Name)
	if !ok {
		return fmt.Errorf("no stream %q", s.Name)
	}
	return d.edit(old.File, func(src []byte) ([]byte, error) {
		return config.SetStream(old.File, src, s)
	}, func(cfg *config.Config) error {
		ns, _ := cfg.Stream(s.Name)
		if old.Equal(ns) && old.Problem == ns.Problem {
			return nil // nothing to restart
		}
		d.logf("ctl: updated stream %s", s.Name)
		return d.restart(ns)
	})
}

func (d *daemon) Remove(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	file := d.fileOf(name)
	return d.edit(file, func(src []byte) ([]byte, error) {
		return config.RemoveStream(file, src, name)
	}, func(*config.Config) error {
		d.logf("ctl: removed stream %s", name)
		if d.p.Lookup(name) == nil {
			return nil // it was not running
		}
		return d.p.Stop(name)
	})
}

func (d *daemon) Reload() (config.Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reloadLocked()
}

func (d *daemon) Stats(name string) ([]ctl.StreamStats, error) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	var out []ctl.StreamStats
	for _, s := range cfg.Streams {
		if name != "" && s.Name != name {
			continue
		}
		ps := d.p.Lookup(s.Name)
		if ps == nil {
			continue
		}
		st := ps.Stats()
		row := ctl.StreamStats{
			StreamStatus:  d.status(s),
			UptimeSeconds: ps.Uptime().Seconds(),
			BitrateBps:    st.Bitrate,
			TSErrors:      map[string]uint64{},
			Clients:       ps.Clients() + ps.Viewers(),
			LastData:      st.LastData,
		}
		for c := range pipeline.NumCounters {
			info := &pipeline.Counters[c]
			row.Counters = append(row.Counters, ctl.Count{Group: info.Group, Name: info.Name, N: st.Count[c]})
		}
		for i := ts.Indicator(0); i < ts.NumIndicators; i++ {
			row.TSErrors[i.String()] = st.TS[i]
		}
		for _, p := range ps.PIDs(nil) {
			x := ctl.PIDStats{PID: p.PID, Packets: p.Packets, Lost: p.Lost, Codec: p.Codec.String()}
			x.Width, x.Height = d.sizes.of(ps, p.PID, p.Codec)
			row.PIDs = append(row.PIDs, x)
		}
		out = append(out, row)
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("no stream %q", name)
	}
	return out, nil
}

// videoSizes remembers each video PID's picture size, read from the SPS at
// the start of the stream's newest listed segment, and reads it again only
// when a newer segment is listed: stats are polled (the HTTP API, every few
// seconds by each console), segments come every few seconds.
type videoSizes struct {
	mu sync.Mutex
	m  map[videoKey]videoSize
}

type videoKey struct {
	s   *pipeline.Stream
	pid uint16
}

type videoSize struct {
	msn  uint64
	w, h int
}

// sizeProbe is how much of a segment's start VideoSize reads: the
// keyframe's SPS comes right after PAT and PMT.
const sizeProbe = 32 << 10

func (v *videoSizes) of(s *pipeline.Stream, pid uint16, codec ts.Codec) (w, h int) {
	if codec != ts.CodecH264 && codec != ts.CodecHEVC {
		return 0, 0
	}
	tl := s.Timeline()
	if tl == nil || len(tl.Listed()) == 0 {
		return 0, 0
	}
	listed := tl.Listed()
	seg := listed[len(listed)-1]
	k := videoKey{s, pid}
	v.mu.Lock()
	if v.m == nil {
		v.m = map[videoKey]videoSize{}
	}
	got, ok := v.m[k]
	v.mu.Unlock()
	if ok && got.msn == seg.MSN {
		return got.w, got.h
	}
	buf := make([]byte, sizeProbe)
	n, err := seg.CopyAt(buf, 0)
	if err != nil {
		return got.w, got.h
	}
	if w, h, ok := ts.VideoSize(buf[:n], pid, codec); ok {
		got.w, got.h = w, h
	}
	got.msn = seg.MSN
	v.mu.Lock()
	if len(v.m) > 4096 { // streams come and go: forget them all now and then
		clear(v.m)
	}
	v.m[k] = got
	v.mu.Unlock()
	return got.w, got.h
}
