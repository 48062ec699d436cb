package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/slabcast/slabcast/bench/api"
)

func init() {
	register(benchmark{"api", "20 consoles polling the HTTP API v3 stream list once a second against ingest and HLS delivery: B/A against the A-vs-A spread (api.md)", runAPI})
}

func runAPI(args []string) error {
	cfg := api.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("api", root, "api.md")
	fs.IntVar(&cfg.Channels, "channels", cfg.Channels, "multicast channels fed to the daemon")
	fs.Float64Var(&cfg.Mbps, "mbps", cfg.Mbps, "each channel's rate, Mbit/s (the clip made for it)")
	fs.StringVar(&cfg.Clip, "clip", "", "an MPEG-TS clip to loop on every channel instead (default: made with ffmpeg, cached in -clip-dir)")
	fs.StringVar(&cfg.ClipDir, "clip-dir", cfg.ClipDir, "cache of the clips made with ffmpeg")
	fs.IntVar(&cfg.Pairs, "pairs", cfg.Pairs, "windows of each case, alternated A, B, A, B, …")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "length of each window")
	fs.IntVar(&cfg.Pollers, "pollers", cfg.Pollers, "API pollers in the B windows")
	fs.DurationVar(&cfg.PollEvery, "poll-every", cfg.PollEvery, "each poller's period")
	fs.StringVar(&cfg.PollPath, "poll-path", cfg.PollPath, "what the pollers ask for (query included)")
	fs.IntVar(&cfg.Viewers, "viewers", cfg.Viewers, "HLS viewers a channel, each fetching the playlist and the newest segment once a segment_duration")
	fs.IntVar(&cfg.Fetchers, "fetchers", cfg.Fetchers, "HLS client goroutines sharing the viewers' fetches")
	fs.BoolVar(&cfg.Steer, "steer", cfg.Steer, "move the kernel's receive half onto the daemon's core (receive packet steering on the namespace's lo)")
	fs.StringVar(&cfg.Binary, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	env := fs.String("daemon-env", "", "extra environment for the daemon, space-separated (GODEBUG=gctrace=1 …), for experiments")
	return runBenchmark(fs, out, args, []string{"bin", "clip-dir"}, func(ctx context.Context) (results, error) {
		cfg.Root, cfg.DaemonEnv, cfg.Logf = root, strings.Fields(*env), logf
		cfg.FallbackClip = filepath.Join(root, "testdata", "h264_aac.ts")
		rep, err := api.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		rep.Config.Clip = relTo(root, rep.Config.Clip)
		return rep, nil
	})
}
