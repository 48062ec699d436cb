package ts

import "testing"

// ccPacket makes a packet of pid with counter cc; afc is the
// adaptation_field_control (1 payload, 2 adaptation only, 3 both).
func ccPacket(pid uint16, cc uint8, afc byte, disc bool) []byte {
	p := packet(0xFF, SyncByte, byte(pid>>8), byte(pid), afc<<4|cc)
	if afc&2 != 0 {
		p[4], p[5] = 1, 0
		if afc == 2 {
			p[4] = 183
		}
		if disc {
			p[5] = 0x80
		}
	}
	return p
}

func TestContinuityChecker(t *testing.T) {
	type pk struct {
		pid  uint16
		cc   uint8
		afc  byte
		disc bool
		tei  bool
		errs int
		lost int
	}
	f := func(name string, seq ...pk) {
		t.Helper()
		var c ContinuityChecker
		for i, s := range seq {
			p := ccPacket(s.pid, s.cc, s.afc, s.disc)
			if s.tei {
				p[1] |= 0x80
			}
			errs, lost := c.Check(p)
			if errs != s.errs || lost != s.lost {
				t.Errorf("%s: packet %d (PID %d CC %d): errs, lost = %d, %d; want %d, %d", name, i, s.pid, s.cc, errs, lost, s.errs, s.lost)
			}
		}
	}
	f("in order with wrap", pk{1, 14, 1, false, false, 0, 0}, pk{1, 15, 1, false, false, 0, 0}, pk{1, 0, 1, false, false, 0, 0}, pk{1, 1, 3, false, false, 0, 0})
	f("first packet any CC", pk{1, 9, 1, false, false, 0, 0})
	f("one lost", pk{1, 3, 1, false, false, 0, 0}, pk{1, 5, 1, false, false, 1, 1}, pk{1, 6, 1, false, false, 0, 0})
	f("many lost across wrap", pk{1, 14, 1, false, false, 0, 0}, pk{1, 3, 1, false, false, 1, 4})
	f("fourteen lost after a duplicate", pk{1, 3, 1, false, false, 0, 0}, pk{1, 3, 1, false, false, 0, 0}, pk{1, 2, 1, false, false, 1, 14})
	f("one duplicate allowed", pk{1, 3, 1, false, false, 0, 0}, pk{1, 3, 1, false, false, 0, 0}, pk{1, 4, 1, false, false, 0, 0})
	f("two duplicates", pk{1, 3, 1, false, false, 0, 0}, pk{1, 3, 1, false, false, 0, 0}, pk{1, 3, 1, false, false, 1, 0}, pk{1, 4, 1, false, false, 0, 0})
	f("duplicate allowed again later", pk{1, 3, 1, false, false, 0, 0}, pk{1, 3, 1, false, false, 0, 0}, pk{1, 4, 1, false, false, 0, 0}, pk{1, 4, 1, false, false, 0, 0})
	f("adaptation only keeps CC", pk{1, 3, 1, false, false, 0, 0}, pk{1, 3, 2, false, false, 0, 0}, pk{1, 4, 1, false, false, 0, 0})
	f("adaptation only with moved CC", pk{1, 3, 1, false, false, 0, 0}, pk{1, 4, 2, false, false, 1, 0}, pk{1, 4, 1, false, false, 0, 0})
	f("discontinuity indicator", pk{1, 3, 1, false, false, 0, 0}, pk{1, 9, 3, true, false, 0, 0}, pk{1, 10, 1, false, false, 0, 0})
	f("PIDs are separate", pk{1, 3, 1, false, false, 0, 0}, pk{2, 7, 1, false, false, 0, 0}, pk{1, 4, 1, false, false, 0, 0}, pk{2, 8, 1, false, false, 0, 0}, pk{2, 10, 1, false, false, 1, 1})
	f("null PID ignored", pk{NullPID, 3, 1, false, false, 0, 0}, pk{NullPID, 9, 1, false, false, 0, 0})
	f("TEI packet ignored, its loss counted", pk{1, 3, 1, false, false, 0, 0}, pk{1, 4, 1, false, true, 0, 0}, pk{1, 5, 1, false, false, 1, 1})

	var c ContinuityChecker
	c.Check(ccPacket(1, 3, 1, false))
	c.Reset()
	if errs, _ := c.Check(ccPacket(1, 9, 1, false)); errs != 0 {
		t.Error("Reset kept PID state")
	}
}

func TestContinuityClipsAreClean(t *testing.T) {
	for _, cl := range clips {
		var c ContinuityChecker
		total := 0
		packets(readClip(t, cl.name), func(p []byte) {
			e, _ := c.Check(p)
			total += e
		})
		if total != 0 {
			t.Errorf("%s: %d continuity errors", cl.name, total)
		}
	}
}

func TestContinuityCheckerDoesNotAllocate(t *testing.T) {
	a, b := ccPacket(0x100, 1, 1, false), ccPacket(0x100, 3, 3, false)
	var c ContinuityChecker
	allocs := testing.AllocsPerRun(100, func() {
		c.Check(a)
		c.Check(b)
	})
	if allocs != 0 {
		t.Fatalf("Check allocates %v times", allocs)
	}
}
