package ts

// ContinuityChecker follows the continuity counters of every PID of one
// stream and counts Continuity_count_error per ETSI TR 101 290 1.4. It holds
// fixed arrays (8 KiB), does not allocate, and its zero value is ready.
type ContinuityChecker struct {
	state [MaxPID + 1]uint8 // ccSeen | ccDup | last CC
}

const (
	ccSeen = 0x80 // a packet of this PID was seen
	ccDup  = 0x40 // the last CC was already repeated once
)

// Reset forgets every PID, as after a change of source.
func (c *ContinuityChecker) Reset() {
	clear(c.state[:])
}

// Check accounts for one packet. errs is 1 when the packet breaks continuity:
// a payload packet whose CC is not the previous one plus 1 (one duplicate is
// allowed, a second repeat is an error), or a packet without payload whose CC
// changed. lost is how many payload packets went missing before this one,
// ((cc - last - 1) mod 16). The first packet of a PID and a packet with the
// discontinuity_indicator set start afresh and are never errors. Null packets
// are ignored, and so are packets with TEI set, whose header cannot be
// trusted; a missing packet shows up at the next good one.
func (c *ContinuityChecker) Check(p []byte) (errs int, lost int) {
	pid := PID(p)
	if pid == NullPID || TEI(p) {
		return 0, 0
	}
	cc := CC(p)
	st := c.state[pid]
	if st&ccSeen == 0 || DiscontinuityIndicator(p) {
		c.state[pid] = ccSeen | cc
		return 0, 0
	}
	last := st & 0x0F
	if !HasPayload(p) {
		// Without payload the counter must not move (13818-1 2.4.3.3).
		if cc != last {
			return 1, 0
		}
		return 0, 0
	}
	switch cc {
	case (last + 1) & 0x0F:
		c.state[pid] = ccSeen | cc
		return 0, 0
	case last:
		if st&ccDup != 0 {
			return 1, 0 // a packet sent more than twice
		}
		c.state[pid] = st | ccDup
		return 0, 0
	}
	c.state[pid] = ccSeen | cc
	return 1, int((cc - last - 1) & 0x0F)
}
