package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Reading and writing the values of settings: numbers without float
// rounding, sizes with binary suffixes, listen addresses.

// parseListen normalises an http value to addr:port; msg says what is wrong.
func parseListen(s string) (addr, msg string) {
	const form = "is not PORT, ADDR:PORT or [IPv6]:PORT"
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, ok := parseInt(s); !ok || n < 1 || n > 65535 {
			return "", "port is not 1..65535"
		}
		return ":" + s, ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", form
	}
	if n, ok := parseInt(port); !ok || n < 1 || n > 65535 {
		return "", "port is not 1..65535"
	}
	if host == "*" {
		host = ""
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return "", "has an address that is neither an IP address nor a host name"
		}
	}
	return net.JoinHostPort(host, port), ""
}

func validHostname(s string) bool {
	if len(s) > 253 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// ParseSize parses a size in bytes with an optional binary suffix K, M or
// G, as the config's memory and rcvbuf= take it. Values past MaxMemory come
// back as MaxMemory+1 (out of range for every use) rather than overflowing.
func ParseSize(s string) (int64, bool) { return parseSize(s) }

// parseSize parses bytes with an optional binary suffix K, M or G.
func parseSize(s string) (int64, bool) {
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, ok := parseInt(s)
	if !ok {
		return 0, false
	}
	if int64(n) > MaxMemory/mult {
		return MaxMemory + 1, true // out of range; avoids overflow below
	}
	return int64(n) * mult, true
}

// parseInt parses decimal digits; values beyond 1e12 saturate there, which
// every caller treats as out of range.
func parseInt(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	const limit = 1e12
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, limit), true
}

// parseSeconds parses seconds written as digits with an optional decimal
// fraction, without float rounding. Digits beyond nanoseconds are dropped;
// huge values saturate at 1e9 seconds, far beyond every limit.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	w, ok := parseInt(whole)
	if !ok {
		return 0, false
	}
	w = min(w, 1e9) // seconds; keeps the product below MaxInt64
	var ns int64
	if hasFrac {
		if frac == "" {
			return 0, false
		}
		scale := int64(1e8)
		for i := 0; i < len(frac); i++ {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			ns += int64(c-'0') * scale
			scale /= 10
		}
	}
	return time.Duration(w)*time.Second + time.Duration(ns), true
}

// appendSeconds writes d as seconds with the shortest exact decimal
// fraction. Negative durations are out of every range; they are written
// with a sign so that Parse refuses them.
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 {
		b = append(b, '-')
		d = -d // -MinInt64 stays negative; its digits below are still those of 2^63
	}
	u := uint64(d)
	b = strconv.AppendUint(b, u/uint64(time.Second), 10)
	frac := u % uint64(time.Second)
	if frac == 0 {
		return b
	}
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 9
	for digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

// appendSize writes n bytes, with a binary suffix when it is exact.
func appendSize(b []byte, n int64) []byte {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return append(strconv.AppendInt(b, n>>30, 10), 'G')
	case n != 0 && n%(1<<20) == 0:
		return append(strconv.AppendInt(b, n>>20, 10), 'M')
	case n != 0 && n%(1<<10) == 0:
		return append(strconv.AppendInt(b, n>>10, 10), 'K')
	}
	return strconv.AppendInt(b, n, 10)
}

// parsePIDList reads a comma-separated list of PIDs and writes it back
// ascending, without repeats; msg says what is wrong.
func parsePIDList(s string) (canon, msg string) {
	var set [8192 / 64]uint64
	for part := range strings.SplitSeq(s, ",") {
		n, ok := parseInt(part)
		switch {
		case !ok:
			return "", "is not a list of PIDs like 256,257"
		case n > 8191:
			return "", "names a PID above 8191"
		}
		set[n/64] |= 1 << (n % 64)
	}
	var b []byte
	for pid := range 8192 {
		if set[pid/64]&(1<<(pid%64)) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(pid), 10)
		}
	}
	return string(b), ""
}
