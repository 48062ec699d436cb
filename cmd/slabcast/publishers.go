package main

import (
	"fmt"
	"net"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/rtmp"
	"github.com/slabcast/slabcast/srt"
)

// publishers are the daemon's listeners for publishers other than HTTP's:
// RTMP (`rtmp PORT;`) and SRT (`srt PORT;`). A listener the config names
// that cannot be had stops the daemon at start, as an http one does; a
// change of them takes a restart (config.Diff's globals).
type publishers struct {
	rtmp *rtmp.Server
	srt  *srt.Server
}

func (d *daemon) publishListeners(cfg *config.Config) (*publishers, error) {
	ps := &publishers{}
	var lns []net.Listener
	fail := func(err error) (*publishers, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	for _, l := range cfg.RTMP {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return fail(fmt.Errorf("rtmp %s: %w", l.Addr, err))
		}
		lns = append(lns, ln)
	}
	if len(cfg.SRT) > 0 {
		ps.srt = srt.New(d.p, d.logf)
		for _, l := range cfg.SRT {
			addr, err := ps.srt.Listen(l.Addr)
			if err != nil {
				ps.srt.Close()
				return fail(fmt.Errorf("srt %s: %w", l.Addr, err))
			}
			d.logf("slabcast: taking srt publishers on %s (udp)", addr)
		}
	}
	if len(lns) > 0 {
		ps.rtmp = rtmp.New(d.p, d.logf)
		for _, ln := range lns {
			d.logf("slabcast: taking rtmp publishers on %s", ln.Addr())
			go ps.rtmp.Serve(ln)
		}
	}
	return ps, nil
}

// Close stops every listener and ends every session.
func (ps *publishers) Close() {
	if ps.rtmp != nil {
		ps.rtmp.Close()
	}
	if ps.srt != nil {
		ps.srt.Close()
	}
}
