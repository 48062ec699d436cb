package ingest

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/nic"
)

// ReadMachine describes the machine: CPU model, cores, kernel, load.
func ReadMachine() Machine {
	m := Machine{CPUs: len(nic.OnlineCPUs())}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) +
			" " + unix.ByteSliceToString(u.Machine[:])
	}
	m.Load = readLoad()
	return m
}

// readLoad returns /proc/loadavg's first three fields, "" if unreadable.
func readLoad() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
