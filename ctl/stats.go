package ctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// The JSON form of StreamStats: its counters are not struct fields, the
// daemon gives them in its own order (package pipeline's table), so a new
// counter reaches slabcast ctl stats without a change here.

// MarshalJSON writes the stats flat (see StreamStats).
func (s StreamStats) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(s.StreamStatus)
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-1] // reopen the object
	b = append(b, `,"uptime_seconds":`...)
	b = strconv.AppendFloat(b, s.UptimeSeconds, 'f', -1, 64)
	b = append(b, `,"bitrate_bps":`...)
	b = strconv.AppendUint(b, s.BitrateBps, 10)
	for i := 0; i < len(s.Counters); {
		c := s.Counters[i]
		b = append(b, ',')
		if c.Group == "" {
			b = strconv.AppendQuote(b, c.Name)
			b = append(b, ':')
			b = strconv.AppendUint(b, c.N, 10)
			i++
			continue
		}
		b = strconv.AppendQuote(b, c.Group)
		b = append(b, `:{`...)
		for j := i; i < len(s.Counters) && s.Counters[i].Group == c.Group; i++ {
			if i > j {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, s.Counters[i].Name)
			b = append(b, ':')
			b = strconv.AppendUint(b, s.Counters[i].N, 10)
		}
		b = append(b, '}')
	}
	rest, err := json.Marshal(struct {
		TSErrors map[string]uint64 `json:"ts_errors,omitempty"`
		Clients  int               `json:"clients"`
		PIDs     []PIDStats        `json:"pids,omitempty"`
	}{s.TSErrors, s.Clients, s.PIDs})
	if err != nil {
		return nil, err
	}
	b = append(b, ',')
	return append(b, rest[1:]...), nil
}

// UnmarshalJSON reads the stats, keeping the counters in the order given:
// numbers under keys it does not know are counters, objects of numbers are
// groups of them.
func (s *StreamStats) UnmarshalJSON(data []byte) error {
	var fixed struct {
		StreamStatus
		UptimeSeconds float64           `json:"uptime_seconds"`
		BitrateBps    uint64            `json:"bitrate_bps"`
		TSErrors      map[string]uint64 `json:"ts_errors"`
		Clients       int               `json:"clients"`
		PIDs          []PIDStats        `json:"pids"`
	}
	if err := json.Unmarshal(data, &fixed); err != nil {
		return err
	}
	*s = StreamStats{StreamStatus: fixed.StreamStatus, UptimeSeconds: fixed.UptimeSeconds, BitrateBps: fixed.BitrateBps,
		TSErrors: fixed.TSErrors, Clients: fixed.Clients, PIDs: fixed.PIDs}
	known := map[string]bool{"name": true, "type": true, "status": true, "inputs": true, "active_input": true, "publisher": true,
		"uptime_seconds": true, "bitrate_bps": true, "ts_errors": true, "clients": true, "pids": true}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if _, err := d.Token(); err != nil { // {
		return err
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return err
		}
		if known[key] {
			continue
		}
		if n, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			s.Counters = append(s.Counters, Count{Name: key, N: n})
			continue
		}
		if err := s.decodeGroup(key, v); err != nil {
			return err
		}
	}
	return nil
}

// decodeGroup reads an object of counters, in order.
func (s *StreamStats) decodeGroup(group string, v json.RawMessage) error {
	d := json.NewDecoder(bytes.NewReader(v))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil // neither a number nor an object: not a counter
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		var n uint64
		if err := d.Decode(&n); err != nil {
			return errors.New("ctl: counter " + group + "." + t.(string) + " is not a count")
		}
		s.Counters = append(s.Counters, Count{Group: group, Name: t.(string), N: n})
	}
	return nil
}
