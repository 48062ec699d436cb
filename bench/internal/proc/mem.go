package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// MemStatus is the resident memory of a process, from /proc/PID/status.
type MemStatus struct {
	VmRSS, RssAnon, RssFile, RssShmem int64 // bytes
	VmHWM                             int64 // peak resident, bytes
}

// ProcessMemory reads the resident memory of process pid.
func ProcessMemory(pid int) (MemStatus, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return MemStatus{}, fmt.Errorf("proc: %w", err)
	}
	return parseMemStatus(data)
}

func parseMemStatus(data []byte) (MemStatus, error) {
	var m MemStatus
	fields := map[string]*int64{"VmRSS": &m.VmRSS, "RssAnon": &m.RssAnon, "RssFile": &m.RssFile,
		"RssShmem": &m.RssShmem, "VmHWM": &m.VmHWM}
	found := 0
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(line, ":")
		p := fields[k]
		if !ok || p == nil {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("proc: /proc status %s: %q", k, strings.TrimSpace(v))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("proc: /proc status %s: %w", k, err)
		}
		*p = n << 10
		found++
	}
	if found != len(fields) {
		return m, fmt.Errorf("proc: /proc status has %d of the %d memory fields", found, len(fields))
	}
	return m, nil
}
