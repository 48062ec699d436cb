package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// A config written for Flussonic runs as its operator wrote it: several
// listeners, an include, names with '/', streams switched off, protected
// or with sources slabcast cannot read yet are configured and not started,
// with the reason in ctl list and slabcast check, and a change through the
// control socket goes to the file that holds the stream.
func TestFlussonicConfigRuns(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	port2 := freePort(t, "tcp")
	d := newTestDaemon(t, nil, fmt.Sprintf(`
http 127.0.0.1:%d {
  api false;
}
https 8443;
include streams.d/*.conf;

stream news/hd {
  input udp://239.2.9.1:5000;
  segment_duration 1;
}
stream off {
  input udp://239.2.9.2:5000;
  disabled;
}
stream paid {
  input udp://239.2.9.3:5000;
  on_play auth://tokens;
}
stream gated {
  input udp://239.2.9.1:5000;
  on_play http://127.0.0.1:1/on_play;
}
stream pull webrtc://10.0.0.1/live/pull;
`, port2))
	dir := filepath.Dir(d.conf)
	sport := filepath.Join(dir, "streams.d", "sport.conf")
	if err := os.MkdirAll(filepath.Dir(sport), 0o755); err != nil {
		t.Fatal(err)
	}
	sportText := "# the sport channel\nstream sport {\n  input udp://239.2.9.4:5000 user_agent=\"Head End\";\n  segment_duration 1;\n}\n"
	if err := os.WriteFile(sport, []byte(sportText), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.2.9.1:5000", Size: "320x180"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.2.9.4:5000", Size: "320x180"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Both listeners serve; the included stream plays.
	for _, u := range []string{d.base + "/news/hd/index.m3u8", fmt.Sprintf("http://127.0.0.1:%d/news/hd/index.m3u8", port2), d.base + "/sport/index.m3u8"} {
		if _, err := hlstest.Watch(ctx, u, 500*time.Millisecond, 1); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	for _, name := range []string{"off", "paid", "pull"} {
		resp, err := http.Get(d.base + "/" + name + "/index.m3u8")
		if err != nil || resp.StatusCode != 404 {
			t.Fatalf("%s: %v %v: a stream that is not started is not served", name, resp, err)
		}
		resp.Body.Close()
	}

	// An http:// on_play is enforced: its backend cannot be reached, so a
	// new viewer is refused (on_play_backend_down deny, the default).
	if resp, err := http.Get(d.base + "/gated/index.m3u8"); err != nil || resp.StatusCode != 403 {
		t.Fatalf("gated, its on_play backend down: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}

	r := sockDo(t, d, `{"cmd":"list"}`)
	status := map[string]string{}
	for _, s := range r.Streams {
		status[s.Name] = s.Status + " " + s.Error
	}
	for name, want := range map[string]string{"news/hd": "running ", "sport": "running ", "off": "disabled ",
		"paid": "error protected by on_play", "pull": "error no input slabcast can read yet: webrtc://10.0.0.1/live/pull"} {
		if !strings.HasPrefix(status[name], want) {
			t.Errorf("ctl list: %s is %q, want %q…", name, status[name], want)
		}
	}

	// A change goes to the file that holds the stream and keeps what
	// slabcast ignores there; the protected stream stays protected.
	main, _ := os.ReadFile(d.conf)
	for _, req := range []string{
		`{"cmd":"update","name":"sport","input":"udp://239.2.9.4:5000","segment_duration":1,"segment_count":8}`,
		`{"cmd":"update","name":"paid","input":"udp://239.2.9.3:5000","segment_count":8}`,
	} {
		if r := sockDo(t, d, req); !r.OK {
			t.Fatalf("%s: %s", req, r.Error)
		}
	}
	got, _ := os.ReadFile(sport)
	if !strings.HasPrefix(string(got), "# the sport channel\n") || !strings.Contains(string(got), "segment_count 8;") ||
		!strings.Contains(string(got), `user_agent="Head End"`) {
		t.Errorf("sport.conf after the update:\n%s", got)
	}
	after, _ := os.ReadFile(d.conf)
	if !strings.Contains(string(after), "on_play auth://tokens;") || !strings.Contains(string(after), "segment_count 8;") ||
		strings.Count(string(after), "segment_count") != 1 || len(after) < len(main) {
		t.Errorf("main config after the updates:\n%s", after)
	}
	if r := sockDo(t, d, `{"cmd":"show","name":"paid"}`); r.Status == nil || r.Status.Status != "error" {
		t.Errorf("paid after its update: %s", r.Raw)
	}

	// slabcast check tells a migration what will be ignored and what will
	// not start.
	out, _ := exec.Command(binary(t), "check", "-c", d.conf).CombinedOutput()
	for _, want := range []string{
		"WARN " + d.conf + ":8:1: directive https is not supported by slabcast; ignored",
		"WARN " + sport + `:3:30: input: option user_agent is not supported by slabcast; ignored`,
		`: directive on_play is not supported by slabcast: stream "paid" is not started`,
		"stream paid is not started: protected by on_play",
		"stream off is disabled: not started",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("slabcast check lacks %q:\n%s", want, out)
		}
	}
}
