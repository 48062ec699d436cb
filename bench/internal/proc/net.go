package proc

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// UDPDrops returns, for every UDP socket of this network namespace bound to
// one of ports, the datagrams the kernel dropped on it (the last column of
// /proc/net/udp: receive buffer full, or refused by a socket filter), summed
// per port. Ports with no socket are absent.
func UDPDrops(ports map[uint16]bool) (map[uint16]uint64, error) {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
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
			return nil, fmt.Errorf("proc: /proc/net/udp address %q", f[1])
		}
		b, err := hex.DecodeString(port)
		if err != nil {
			return nil, fmt.Errorf("proc: /proc/net/udp port %q: %w", port, err)
		}
		p := uint16(b[0])<<8 | uint16(b[1])
		if !ports[p] {
			continue
		}
		d, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("proc: /proc/net/udp drops %q: %w", f[len(f)-1], err)
		}
		out[p] += d
	}
	return out, sc.Err()
}

// BacklogDrops returns the packets the kernel dropped because a core's
// input backlog (net.core.netdev_max_backlog) was full, summed over every
// core: column 2 of /proc/net/softnet_stat. It is machine-wide.
func BacklogDrops() (uint64, error) {
	data, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	return parseBacklogDrops(data)
}

func parseBacklogDrops(data []byte) (uint64, error) {
	var sum uint64
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("proc: /proc/net/softnet_stat: %w", err)
		}
		sum += v
	}
	return sum, nil
}
