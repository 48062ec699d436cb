package latency

import "github.com/slabcast/slabcast/bench/internal/proc"

// confine keeps every thread of this process on cpu (see proc.Confine).
func confine(cpu int) (restore func(), err error) { return proc.Confine(cpu) }
