package fanout

import "github.com/slabcast/slabcast/bench/internal/proc"

// pinProcess moves every thread of this process onto cpus and returns a
// function that gives every thread the process's former affinity back.
func pinProcess(cpus []int) (restore func(), err error) { return proc.Confine(cpus...) }
