//go:build linux

package main

// The web console end to end: Playwright (testdata/console/console.mjs)
// drives Debian's Chromium through /admin/ on a running daemon, with the
// browser's Basic-auth login, against the real API and a real multicast
// source: Add, a refused URL, Create, the green light, the filter, the
// player, Edit, Delete.
//
// Needs /usr/bin/chromium, node and playwright-core (npm ci in
// testdata/console, which .ci/browser-deps runs); without them the test
// skips, and with CI=true it fails. SLABCAST_SCREENSHOTS=1 writes the
// screenshots to docs/ (console-streams.png, console-stream.png).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/testnet"
)

const (
	consoleDir    = "testdata/console"
	consoleScript = "console.mjs"
)

// consoleTools finds Chromium, node and playwright-core: it skips without
// them, or fails under CI=true, where .ci/browser-deps has installed them.
func consoleTools(t *testing.T) (node, chromium string) {
	t.Helper()
	chromium = chromiumPath(t)
	node, err := exec.LookPath("node")
	if err != nil {
		toolMissing(t, "no node: %v", err)
	}
	if _, err := os.Stat(filepath.Join(consoleDir, "node_modules/playwright-core/package.json")); err != nil {
		toolMissing(t, "no playwright-core in %s/node_modules", consoleDir)
	}
	return node, chromium
}

// consoleResult is the JSON line console.mjs prints.
type consoleResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Stack string `json:"stack"`
	// Current is the step that failed.
	Current string `json:"current"`
	Steps   []struct {
		Step   string          `json:"step"`
		MS     int             `json:"ms"`
		Detail json.RawMessage `json:"detail"`
	} `json:"steps"`
	Played float64 `json:"played"`
	Video  *struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Frames int    `json:"frames"`
		Player string `json:"player"`
	} `json:"video"`
	Fatal         []string          `json:"fatal"`
	PageErrors    []string          `json:"pageErrors"`
	ConsoleErrors []string          `json:"consoleErrors"`
	Dialog        string            `json:"dialog"`
	Row           []string          `json:"row"`
	URLError      string            `json:"urlError"`
	Screenshots   map[string]string `json:"screenshots"`
	URL           string            `json:"url"`
	PageText      string            `json:"pageText"`
}

// TestConsole runs console.mjs against a daemon with edit_auth and a
// looping H.264/AAC clip on a multicast group (inside the test's private
// network namespace), then checks its verdict and, independently of the
// browser, that the stream it created and deleted is gone.
func TestConsole(t *testing.T) {
	testnet.Require(t)
	node, chromium := consoleTools(t)
	const (
		user, pass = "admin", "secret"
		name       = "console1"
		source     = "udp://239.3.7.1:5000"
	)
	// Beside the stream the browser creates, one of each other light:
	// running, waiting (ondemand, no viewer), error (no data for
	// source_timeout), stopped (disabled).
	d := startDaemon(t, fmt.Sprintf(`edit_auth %s %s;
stream news { input udp://239.3.7.2:5000; }
ondemand movies udp://239.3.7.3:5000;
stream sport { input udp://239.3.7.4:5000; source_timeout 2; }
stream archive { input udp://239.3.7.5:5000; disabled; }
`, user, pass))
	const others = "news=running,movies=waiting,sport=error,archive=stopped"
	startFeed(t, "../../testdata/h264_aac.ts", source)
	startFeed(t, "../../testdata/h264_aac.ts", "udp://239.3.7.2:5000")

	dir := t.TempDir()
	if os.Getenv("SLABCAST_SCREENSHOTS") == "1" {
		dir = "../../docs"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	shotList := filepath.Join(dir, "console-streams.png")
	shotStream := filepath.Join(dir, "console-stream.png")
	shotFail := filepath.Join(t.TempDir(), "console-failed.png")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, consoleScript,
		"--url", d.base+"/admin/", "--user", user, "--pass", pass,
		"--source", source, "--name", name, "--expect", others,
		"--shot-list", shotList, "--shot-stream", shotStream, "--shot-fail", shotFail)
	cmd.Dir = consoleDir
	cmd.Env = append(os.Environ(), "SLABCAST_CHROMIUM="+chromium)
	// node and the Chromium it starts share a process group, which is
	// ended by its id however the script ends; Pdeathsig covers a test
	// binary that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // any Chromium left over
	}

	var res consoleResult
	var last string
	for sc := bufio.NewScanner(&stdout); sc.Scan(); {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "{") {
			last = line
		}
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("console.mjs (%v) printed no result: %v\nstdout:\n%s\nstderr:\n%s", runErr, err, stdout.String(), stderr.String())
	}
	for _, s := range res.Steps {
		t.Logf("step %-18s %5d ms %s", s.Step, s.MS, s.Detail)
	}
	t.Logf("console.mjs took %v", time.Since(start).Round(time.Millisecond))
	if len(res.ConsoleErrors) > 0 {
		t.Logf("browser console errors (not failures by themselves): %q", res.ConsoleErrors)
	}
	if runErr != nil || !res.OK {
		t.Errorf("console.mjs failed (%v) at step %q: %s\n%s", runErr, res.Current, res.Error, res.Stack)
		if res.PageText != "" {
			t.Logf("page %s shows:\n%s", res.URL, res.PageText)
		}
		if res.Screenshots["fail"] != "" {
			t.Logf("screenshot of the failure: %s (in the test's temporary directory)", res.Screenshots["fail"])
		}
		if stderr.Len() > 0 {
			t.Logf("stderr:\n%s", stderr.String())
		}
		return
	}

	// The script's own checks passed; the key facts again, here.
	if res.Played <= 2 {
		t.Errorf("the player advanced %.2f s, want > 2", res.Played)
	}
	if len(res.Fatal) > 0 || len(res.PageErrors) > 0 {
		t.Errorf("hls.js fatal errors %q, page errors %q", res.Fatal, res.PageErrors)
	}
	if res.Video == nil || res.Video.Width != 640 || res.Video.Height != 360 {
		t.Errorf("video %+v, want 640x360", res.Video)
	}
	if res.URLError == "" {
		t.Error("no error beside URL for a bad source URL")
	}
	if !strings.Contains(res.Dialog, "Delete stream "+name) {
		t.Errorf("delete confirmation %q", res.Dialog)
	}
	for _, f := range []string{shotList, shotStream} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 10000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("screenshot %s: %d bytes, %v", f, len(b), err)
		}
	}

	// Whatever the page showed: the daemon no longer has the stream.
	req, _ := http.NewRequest("GET", d.base+"/streamer/api/v3/streams/"+name, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET the deleted stream from the API: %d, want 404", resp.StatusCode)
	}
	if resp, err := http.Get(d.base + "/" + name + "/index.m3u8"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the deleted stream's playlist: %d, want 404", resp.StatusCode)
	}
}
