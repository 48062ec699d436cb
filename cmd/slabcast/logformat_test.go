//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// -log-format json: every line on standard error is a log/slog record with
// time, level and msg, and a line about a stream names it in stream; a
// format it does not know is refused before anything starts.
func TestLogFormatJSON(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "slabcast.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf("http 127.0.0.1:%d;\nctl %s;\nmemory 16M;\nstream news/hd { input udp://127.0.0.1:%d; }\n",
		freePort(t, "tcp"), filepath.Join(dir, "ctl.sock"), freePort(t, "udp"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary(t), "run", "-c", conf, "-log-format", "xml").CombinedOutput(); err == nil || !strings.Contains(string(out), "want text or json") {
		t.Errorf("-log-format xml: %v\n%s", err, out)
	}
	cmd := exec.Command(binary(t), "run", "-c", conf, "-log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGTERM)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	sawStream, sawServing := false, false
	timeout := time.After(20 * time.Second)
	for !(sawStream && sawServing) {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the daemon ended")
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON record: %q", line)
			}
			msg, _ := rec["msg"].(string)
			if rec["time"] == nil || rec["level"] != "INFO" || msg == "" {
				t.Errorf("record without time, level or msg: %q", line)
			}
			if strings.HasPrefix(msg, "stream news/hd: ") {
				sawStream = true
				if rec["stream"] != "news/hd" {
					t.Errorf("a stream's line without its stream attribute: %q", line)
				}
			}
			sawServing = sawServing || strings.Contains(msg, "serving http")
		case <-timeout:
			t.Fatalf("no stream line and serving line in 20 s (stream %v, serving %v)", sawStream, sawServing)
		}
	}
}
