// Package proc reads and sets what the benchmarks measure and pin through
// Linux's /proc and sched_setaffinity: CPU times of processes, threads and
// cores, resident memory, the kernel's drop counters, thread and process
// affinity, and receive packet steering on lo.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/nic"
)

// userHZ is the kernel's USER_HZ, the unit of /proc times: 100 on every
// Linux architecture Go supports.
const userHZ = 100

// Ticks converts a count of USER_HZ ticks to a duration.
func Ticks(t uint64) time.Duration { return time.Duration(t) * time.Second / userHZ }

// ProcessCPU returns the user+system CPU time of process pid, all its
// threads, from /proc/PID/stat (fields 14 and 15), in USER_HZ resolution.
func ProcessCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	u, s, err := StatTimes(stat)
	if err != nil {
		return 0, err
	}
	return Ticks(u + s), nil
}

// StatTimes returns utime and stime (fields 14 and 15, in USER_HZ ticks) of
// a /proc stat line. The command name in parentheses may hold spaces, so
// fields are counted after its closing parenthesis.
func StatTimes(stat []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("proc: bad /proc stat line %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("proc: short /proc stat line %q", stat)
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err == nil {
		stime, err = strconv.ParseUint(f[12], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("proc: /proc stat times: %w", err)
	}
	return utime, stime, nil
}

// CoreBusy returns the time core cpu spent busy since boot (user, nice,
// system, irq, softirq, steal from /proc/stat): every process and the
// kernel's interrupt work on that core, not only ours.
func CoreBusy(cpu int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	return ParseCoreBusy(data, cpu)
}

// ParseCoreBusy is CoreBusy on the contents of /proc/stat.
func ParseCoreBusy(data []byte, cpu int) (time.Duration, error) {
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)[1:]
		if len(f) < 8 {
			break
		}
		var sum uint64
		for _, k := range []int{0, 1, 2, 5, 6, 7} { // user nice system irq softirq steal
			v, err := strconv.ParseUint(f[k], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("proc: /proc/stat %s: %w", strings.TrimSpace(prefix), err)
			}
			sum += v
		}
		return Ticks(sum), nil
	}
	return 0, fmt.Errorf("proc: /proc/stat has no line for cpu%d", cpu)
}

// CoresBusy sums CoreBusy over cpus; a core that cannot be read counts 0.
func CoresBusy(cpus []int) time.Duration {
	var sum time.Duration
	for _, c := range cpus {
		b, _ := CoreBusy(c)
		sum += b
	}
	return sum
}

// Full is the share of its cores' time busy at which a side of a
// benchmark (the server, or the load generator) is taken as the bound of
// its run.
const Full = 0.95

// Share is busy, a time the cores of a taskset list of n cores spent busy
// over wall, per core and second: 1 when all of them were busy all along;
// 0 without cores or time.
func Share(busy, wall time.Duration, n int) float64 {
	if n <= 0 || wall <= 0 {
		return 0
	}
	return busy.Seconds() / wall.Seconds() / float64(n)
}

// CountCPUs is the number of cores in a taskset list ("0-1,3"), or of the
// machine when the list is empty.
func CountCPUs(list string) (int, error) {
	if list == "" {
		return len(nic.OnlineCPUs()), nil
	}
	c, err := nic.ParseCPUList(list)
	if err != nil {
		return 0, fmt.Errorf("proc: cpu list %q: %w", list, err)
	}
	return len(c), nil
}

// ListBusy is CoresBusy over the cores of a taskset list; 0 for an empty
// or unreadable list.
func ListBusy(list string) time.Duration {
	if list == "" {
		return 0
	}
	cpus, _ := nic.ParseCPUList(list)
	return CoresBusy(cpus)
}

// TreeCPU returns the user+system CPU time of pid and of its children
// (recursively, as listed by /proc/PID/task/*/children): nginx's master and
// workers.
func TreeCPU(pid int) (time.Duration, error) {
	sum, err := ProcessCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range children(pid) {
		if t, err := TreeCPU(c); err == nil {
			sum += t
		}
	}
	return sum, nil
}

// children lists the child processes of pid.
func children(pid int) []int {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(w); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// ThreadCPU returns the user+system CPU time of this process's threads whose
// affinity is exactly {cpu} (a pinned receiver), from
// /proc/self/task/*/stat, in USER_HZ resolution.
func ThreadCPU(cpu int) (time.Duration, error) {
	dirs, err := filepath.Glob("/proc/self/task/*")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	want := strconv.Itoa(cpu)
	var sum uint64
	for _, d := range dirs {
		st, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue // the thread ended
		}
		if allowedList(st) != want {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		u, s, err := StatTimes(stat)
		if err != nil {
			return 0, err
		}
		sum += u + s
	}
	return Ticks(sum), nil
}

// allowedList returns the Cpus_allowed_list of a /proc status file.
func allowedList(status []byte) string {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("Cpus_allowed_list:")); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// TwoCores checks that a and b are distinct cores this process may use.
func TwoCores(a, b int) error {
	cpus := nic.OnlineCPUs()
	if !slices.Contains(cpus, a) || !slices.Contains(cpus, b) || a == b {
		return fmt.Errorf("needs two distinct usable cores, %d and %d; usable: %v", a, b, cpus)
	}
	return nil
}

// AtLeastGoProcs raises GOMAXPROCS to n, so that pinned threads never wait
// for a P, and returns what sets it back.
func AtLeastGoProcs(n int) (restore func()) {
	old := runtime.GOMAXPROCS(0)
	if old >= n {
		return func() {}
	}
	runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}
