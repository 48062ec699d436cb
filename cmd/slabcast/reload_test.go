package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
)

// SIGHUP applies a changed config: a removed stream goes, an added one
// starts, and an untouched one keeps its segments, media sequence and URLs.
// A broken file changes nothing. Unicast inputs: no namespace needed.
func TestReload(t *testing.T) {
	hlstest.RequireFFmpeg(t)
	p1, p2, p3 := freePort(t, "udp"), freePort(t, "udp"), freePort(t, "udp")
	keep := fmt.Sprintf("stream keep { input udp://127.0.0.1:%d; segment_duration 1; }\n", p1)
	d := startDaemon(t, keep+fmt.Sprintf("stream gone udp://127.0.0.1:%d;\n", p2))
	hlstest.StartSender(t, hlstest.SenderOptions{URL: fmt.Sprintf("udp://127.0.0.1:%d", p1)})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: fmt.Sprintf("udp://127.0.0.1:%d", p2)})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: fmt.Sprintf("udp://127.0.0.1:%d", p3)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keepURL := d.base + "/keep/index.m3u8"
	lists, err := hlstest.Watch(ctx, keepURL, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hlstest.Watch(ctx, d.base+"/gone/index.m3u8", 500*time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	before := lists[len(lists)-1]
	oldSeg := hlstest.ResolveURI(keepURL, before.Segments[0].URI)
	oldBytes, _, err := hlstest.Fetch(ctx, oldSeg)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}
	head := string(text[:bytes.Index(text, []byte("stream keep"))])

	// A broken file is refused and nothing changes.
	writeConf(t, d.conf, head+keep+"stream bad { input udp://127.0.0.1:1; segment_count two; }\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "keeping the running config")
	if _, err := hlstest.FetchPlaylist(ctx, d.base+"/gone/index.m3u8"); err != nil {
		t.Fatalf("a bad reload touched a stream: %v", err)
	}

	writeConf(t, d.conf, head+keep+fmt.Sprintf("stream added udp://127.0.0.1:%d;\n", p3))
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "reload: 1 added, 1 removed, 0 changed")

	if resp, err := http.Get(d.base + "/gone/index.m3u8"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("removed stream: %v %v", resp, err)
	}
	if _, err := hlstest.Watch(ctx, d.base+"/added/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatalf("added stream: %v", err)
	}
	after, err := hlstest.FetchPlaylist(ctx, keepURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := hlstest.CheckProgression(before, after); err != nil {
		t.Fatalf("untouched stream's playlist did not carry on: %v\nbefore:\n%s\nafter:\n%s", err, before.Raw, after.Raw)
	}
	if after.Segments[0].MSN <= before.Segments[0].MSN || hasDiscontinuity(after) {
		t.Fatalf("untouched stream restarted:\nbefore:\n%s\nafter:\n%s", before.Raw, after.Raw)
	}
	again, _, err := hlstest.Fetch(ctx, oldSeg)
	if err != nil || !bytes.Equal(again, oldBytes) {
		t.Fatalf("an untouched stream's old segment changed or vanished: %v", err)
	}
}

func hasDiscontinuity(p *hlstest.Playlist) bool {
	for _, s := range p.Segments {
		if s.Discontinuity {
			return true
		}
	}
	return false
}

func writeConf(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitLog(t *testing.T, d *testDaemon, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.Log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
