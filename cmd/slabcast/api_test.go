package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// apiDo sends one API request with edit_auth's credentials (user "" sends
// none) and returns the status and body.
func apiDo(t *testing.T, d *testDaemon, method, path, user, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.base+"/streamer/api/v3"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, "s3cret-"+user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// A stream made, changed and deleted through the HTTP API is what the
// control socket lists, what the config file says (its other blocks and
// their comments byte for byte), what plays, and what a restart brings
// back.
func TestAPIChangesPersist(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `edit_auth admin s3cret-admin;
view_auth viewer s3cret-viewer;

# The lobby screen: keep this comment.
stream lobby {
  input udp://239.5.1.1:5000; # the encoder in rack 2
}
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.5.1.1:5000", Video: "h264"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.5.1.2:5000", Video: "h264"})
	orig, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}

	if code, b := apiDo(t, d, "GET", "/streams", "", ""); code != 401 {
		t.Fatalf("without credentials: %d %s", code, b)
	}
	if code, b := apiDo(t, d, "PUT", "/streams/news", "viewer", `{"inputs":[{"url":"udp://239.5.1.2:5000"}]}`); code != 403 {
		t.Fatalf("view_auth PUT: %d %s", code, b)
	}
	code, b := apiDo(t, d, "PUT", "/streams/news", "admin", `{"inputs":[{"url":"udp://239.5.1.2:5000","priority":1}],"segment_duration":1000}`)
	if code != 200 {
		t.Fatalf("create: %d %s", code, b)
	}
	conf, _ := os.ReadFile(d.conf)
	if !strings.HasPrefix(string(conf), string(orig)) || !strings.Contains(string(conf), "stream news {\n  input udp://239.5.1.2:5000 priority=1;\n  segment_duration 1;\n}") {
		t.Fatalf("config file after create:\n%s", conf)
	}
	out, err := ctlRun(t, "--socket", d.sock, "list")
	if err != nil || !strings.Contains(out, "news ") || !strings.Contains(out, "lobby ") {
		t.Fatalf("ctl list: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d.plays(t, ctx, "news", 3)
	// The API says it runs, and what it carries.
	deadline := time.Now().Add(10 * time.Second)
	var st struct {
		Stats struct {
			Status    string
			Bitrate   int
			MediaInfo struct {
				Tracks []struct {
					Content, Codec string
					Width, Height  int
				}
			} `json:"media_info"`
		}
	}
	for {
		_, b = apiDo(t, d, "GET", "/streams/news", "viewer", "")
		json.Unmarshal(b, &st)
		if st.Stats.Status == "running" && len(st.Stats.MediaInfo.Tracks) > 0 && st.Stats.MediaInfo.Tracks[0].Width > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Stats.Status != "running" || st.Stats.Bitrate <= 0 || len(st.Stats.MediaInfo.Tracks) == 0 ||
		st.Stats.MediaInfo.Tracks[0].Codec != "h264" || st.Stats.MediaInfo.Tracks[0].Width <= 0 || st.Stats.MediaInfo.Tracks[0].Height <= 0 {
		t.Errorf("news as the API shows it: %s", b)
	}

	// A change goes to the file and survives a restart.
	if code, b := apiDo(t, d, "PUT", "/streams/news", "admin", `{"segment_count":9}`); code != 200 {
		t.Fatalf("change: %d %s", code, b)
	}
	d.restart()
	code, b = apiDo(t, d, "GET", "/streams/news", "admin", "")
	var got struct {
		SegmentCount    int `json:"segment_count"`
		SegmentDuration int `json:"segment_duration"`
	}
	json.Unmarshal(b, &got)
	if code != 200 || got.SegmentCount != 9 || got.SegmentDuration != 1000 {
		t.Fatalf("after restart: %d %s", code, b)
	}
	d.plays(t, ctx, "news", 2)

	// Delete: gone from the socket's list and from the file, which is
	// again what it was.
	if code, b := apiDo(t, d, "DELETE", "/streams/news", "admin", ""); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	out, _ = ctlRun(t, "--socket", d.sock, "list")
	if strings.Contains(out, "news") {
		t.Errorf("ctl list after delete:\n%s", out)
	}
	if conf, _ := os.ReadFile(d.conf); string(conf) != string(orig) {
		t.Errorf("config file after delete:\n%s\nwant:\n%s", conf, orig)
	}
	if resp, err := http.Get(d.base + "/news/index.m3u8"); err != nil || resp.StatusCode != 404 {
		t.Errorf("playlist after delete: %v %v", resp.StatusCode, err)
	}
	d.plays(t, ctx, "lobby", 2) // the other stream never noticed
}

// A listener with `api false` does not serve the API; the others do.
func TestAPIOffOnListener(t *testing.T) {
	port := freePort(t, "tcp")
	d := startDaemon(t, fmt.Sprintf("edit_auth admin s3cret-admin;\nhttp 127.0.0.1:%d { api false; }\n", port))
	if code, _ := apiDo(t, d, "GET", "/streams", "admin", ""); code != 200 {
		t.Errorf("API on the main listener: %d", code)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/streamer/api/v3/streams", port), nil)
	req.SetBasicAuth("admin", "s3cret-admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("API on the api-false listener: %d", resp.StatusCode)
	}
}
