package channels

import (
	"bufio"
	"bytes"
	"encoding/hex"
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
		return MemStatus{}, fmt.Errorf("channels: %w", err)
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
			return m, fmt.Errorf("channels: /proc status %s: %q", k, strings.TrimSpace(v))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("channels: /proc status %s: %w", k, err)
		}
		*p = n << 10
		found++
	}
	if found != len(fields) {
		return m, fmt.Errorf("channels: /proc status has %d of the %d memory fields", found, len(fields))
	}
	return m, nil
}

// UDPDrops returns, for every UDP socket of this network namespace bound to
// one of ports, the datagrams the kernel dropped on it (the last column of
// /proc/net/udp: receive buffer full, or refused by a socket filter), summed
// per port. Ports with no socket are absent.
func UDPDrops(ports map[uint16]bool) (map[uint16]uint64, error) {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	return parseUDPDrops(data, ports)
}

func parseUDPDrops(data []byte, ports map[uint16]bool) (map[uint16]uint64, error) {
	out := map[uint16]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			continue
		}
		_, port, ok := strings.Cut(f[1], ":")
		if !ok || len(port) != 4 {
			return nil, fmt.Errorf("channels: /proc/net/udp address %q", f[1])
		}
		b, err := hex.DecodeString(port)
		if err != nil {
			return nil, fmt.Errorf("channels: /proc/net/udp port %q: %w", port, err)
		}
		p := uint16(b[0])<<8 | uint16(b[1])
		if !ports[p] {
			continue
		}
		d, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("channels: /proc/net/udp drops %q: %w", f[len(f)-1], err)
		}
		out[p] += d
	}
	return out, sc.Err()
}
