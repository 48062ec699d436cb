package main

import (
	"fmt"
	"os"
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
		if d.p.Lookup(s.Name) != nil {
			d.p.Stop(s.Name)
		}
		return d.start(ns)
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
			row.PIDs = append(row.PIDs, ctl.PIDStats{PID: p.PID, Packets: p.Packets, Lost: p.Lost, Codec: p.Codec.String()})
		}
		out = append(out, row)
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("no stream %q", name)
	}
	return out, nil
}
