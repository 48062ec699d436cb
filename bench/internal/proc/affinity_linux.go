package proc

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Confine moves every thread of this process onto cpus, so that threads a
// benchmark does not pin itself (the Go runtime's, the garbage collector's)
// stay off the core under measurement; threads created later inherit it
// from their creator. It returns a function that gives every thread the
// affinity the calling thread had.
func Confine(cpus ...int) (restore func(), err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("proc: sched_getaffinity: %w", err)
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := setAll(&set); err != nil {
		setAll(&old)
		return nil, err
	}
	return func() { setAll(&old) }, nil
}

func setAll(set *unix.CPUSet) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("proc: %w", err)
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A thread may end meanwhile (ESRCH): nothing to confine.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("proc: sched_setaffinity thread %d: %w", tid, err)
		}
	}
	return nil
}
