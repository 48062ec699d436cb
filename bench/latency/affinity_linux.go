package latency

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// confine sets the affinity of every thread of this process to cpu, so
// that threads the benchmark does not pin itself (the Go runtime's, the
// garbage collector's) stay off the daemon's core; threads created later
// inherit it. It returns a function that gives every thread back the
// affinity the calling thread had.
func confine(cpu int) (restore func(), err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("latency: sched_getaffinity: %w", err)
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := setAll(&one); err != nil {
		setAll(&old)
		return nil, err
	}
	return func() { setAll(&old) }, nil
}

func setAll(set *unix.CPUSet) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A thread may end meanwhile (ESRCH): nothing to confine.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("latency: sched_setaffinity %d: %w", tid, err)
		}
	}
	return nil
}
