package nic

import (
	"fmt"
	"runtime"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PinThread binds the calling OS thread to cpu (sched_setaffinity). The
// caller must have called runtime.LockOSThread, or the goroutine may move to
// another, unpinned thread.
func PinThread(cpu int) error {
	if cpu < 0 || cpu >= MaxCPU {
		return fmt.Errorf("nic: pin thread to cpu %d: out of range 0-%d", cpu, MaxCPU-1)
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("nic: pin thread to cpu %d: %w", cpu, err)
	}
	return nil
}

// processCPUs is the process's CPU affinity, read while the package
// initialises on the main thread, before any thread is pinned.
var processCPUs = readAffinity()

// OnlineCPUs returns the CPUs this process may run on, in ascending order:
// its sched_getaffinity mask as the process started (pinning threads with
// PinThread does not narrow it), or 0..runtime.NumCPU()-1 if the kernel
// would not say. The caller may modify the slice.
func OnlineCPUs() []int { return slices.Clone(processCPUs) }

func readAffinity() []int {
	var set unix.CPUSet
	var cpus []int
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		for c := 0; c < MaxCPU; c++ {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
	}
	if len(cpus) == 0 {
		for c := range runtime.NumCPU() {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// Nap sleeps the calling OS thread for d with nanosleep(2). On a thread
// locked to a core it wakes within microseconds of d, where time.Sleep
// waits for the runtime's timers (a millisecond or more when every other
// processor is idle), which matters for a receive worker that lets
// datagrams gather for a fraction of a millisecond.
//
// It sleeps outside the runtime's knowledge (a raw system call): to the
// scheduler the goroutine is still running. Through unix.Nanosleep, every
// nap longer than the runtime monitor's 20 µs tick made the monitor take
// the processor back and hand it off, which wakes another thread and keeps
// the monitor polling every 20 µs: with a worker napping a millisecond at a
// time that cost a fifth of the worker's CPU (40 channels, 4 Mbit/s,
// bench/results/channels.md). A signal (the runtime's preemption request
// among them) ends the nap early, so a stop-the-world waits for no nap;
// callers treat a short nap like any other.
func Nap(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}
