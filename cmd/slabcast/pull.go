package main

import (
	"context"
	"strings"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/rtmp"
	"github.com/slabcast/slabcast/rtsp"
	"github.com/slabcast/slabcast/srt"
	"github.com/slabcast/slabcast/ts"
)

// The pull inputs of every scheme, wired here so that the pipeline needs
// no protocol's package: tshttp://, http:// and hls:// (package httpts,
// the pipeline's default), rtsp://, srt:// and rtmp://.

// pull is the daemon's pipeline.PullFunc.
func (d *daemon) pull(ctx context.Context, in config.Input, stall time.Duration, f *ts.Framer, emit func([]byte) error, newSource func() error) error {
	switch scheme(in.URL) {
	case "rtsp":
		return rtsp.Pull(ctx, rtsp.Input{URL: in.URL, Transport: in.RTP}, stall, f, emit)
	case "srt":
		return srt.Pull(ctx, srt.Input{URL: in.URL, StreamID: in.StreamID, Passphrase: in.Passphrase}, stall, f, emit, newSource)
	case "rtmp":
		return rtmp.Pull(ctx, in.URL, stall, emit, d.logf)
	}
	return pipeline.PullHTTP(ctx, in, stall, f, emit, newSource)
}

// checkInput validates an input URL of any scheme slabcast reads; it is
// config.Options.CheckInput.
func checkInput(u string) error {
	switch scheme(u) {
	case "rtsp":
		return rtsp.Check(u)
	case "srt":
		return srt.Check(u)
	case "rtmp":
		return rtmp.Check(u)
	}
	return pipeline.CheckInput(u)
}

func scheme(u string) string {
	s, _, _ := strings.Cut(u, "://")
	return strings.ToLower(s)
}
