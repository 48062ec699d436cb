package proc

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/nic"
)

// OnCPU runs f on the calling goroutine locked to its thread, the thread
// pinned to cpu (left as it is when cpu < 0), and afterwards gives the
// thread its former affinity back and unlocks it. The thread does not end
// with the goroutine: a thread that ends fires the Pdeathsig of every child
// process it happened to fork (the daemons under test). Should restoring
// fail, the goroutine stays locked, and the runtime drops the pinned thread
// when the goroutine ends.
func OnCPU(cpu int, f func() error) error {
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("proc: sched_getaffinity: %w", err)
	}
	if cpu >= 0 {
		if err := nic.PinThread(cpu); err != nil {
			runtime.UnlockOSThread()
			return err
		}
	}
	err := f()
	if unix.SchedSetaffinity(0, &old) == nil {
		runtime.UnlockOSThread()
	}
	return err
}

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
