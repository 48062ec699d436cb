package latency

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a slabcast process under test.
type daemon struct {
	cmd  *exec.Cmd
	http netip.AddrPort
	log  *os.File
	dir  string
	exit chan error
}

// buildSlabcast builds cmd/slabcast from root into dir.
func buildSlabcast(root, dir string) (string, error) {
	bin := filepath.Join(dir, "slabcast")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/slabcast")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("latency: go build ./cmd/slabcast: %v: %s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// describeTree says which source a binary built from root came from: the
// commit, and the product files (outside bench/) changed since.
func describeTree(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a tree outside git"
	}
	desc := "commit " + string(bytes.TrimSpace(out))
	changed, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", ".", ":!bench").Output()
	if err == nil && len(bytes.TrimSpace(changed)) > 0 {
		var files []string
		for line := range bytes.Lines(changed) {
			if len(line) > 3 {
				files = append(files, string(bytes.TrimSpace(line[3:])))
			}
		}
		desc += " with uncommitted changes to " + strings.Join(files, ", ")
	}
	return desc
}

// freePort returns a TCP port on 127.0.0.1 nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("latency: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startDaemon runs bin with a config for inputs, the whole process confined
// to cpu with taskset, and waits until it answers HTTP.
func startDaemon(bin, dir string, cpu int, seg time.Duration, inputs, env []string) (*daemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &daemon{http: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)), dir: dir}
	conf := filepath.Join(dir, "slabcast.conf")
	text := daemonConfig(d.http, filepath.Join(dir, "ctl.sock"), cpu, seg, inputs)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	if d.log, err = os.Create(filepath.Join(dir, "slabcast.log")); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		d.log.Close()
		return nil, fmt.Errorf("latency: %w (util-linux)", err)
	}
	d.cmd = exec.Command(taskset, "-c", strconv.Itoa(cpu), bin, "run", "-c", conf)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.Env = append(os.Environ(), env...)
	if err := d.cmd.Start(); err != nil {
		d.log.Close()
		return nil, fmt.Errorf("latency: starting slabcast: %w", err)
	}
	d.exit = make(chan error, 1)
	go func() { d.exit <- d.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.http.String(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return d, nil
		}
		select {
		case err := <-d.exit:
			d.exit <- err
			return nil, fmt.Errorf("latency: slabcast exited: %v: %s", err, d.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("latency: slabcast does not answer on %s: %s", d.http, d.logTail())
		}
	}
}

// logTail returns the end of the daemon's log, for errors.
func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// stop sends SIGTERM, waits up to 5 s, then kills; it reports an unclean
// exit.
func (d *daemon) stop() error {
	defer d.log.Close()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		d.cmd.Process.Kill()
	}
	select {
	case err := <-d.exit:
		if err != nil {
			return fmt.Errorf("latency: slabcast: %v: %s", err, d.logTail())
		}
		return nil
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exit
		return errors.New("latency: slabcast did not stop within 5 s of SIGTERM")
	}
}
