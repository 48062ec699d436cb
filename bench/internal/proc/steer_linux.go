package proc

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
)

// SteerTo sets receive packet steering on this namespace's lo so that the
// kernel's receive half of every looped datagram (IP, UDP, the socket
// filter, queueing) runs on cpu, as a NIC's interrupt would on a tuned
// headend, instead of in the sender's system call on the sender's core;
// cpu < 0 turns steering off. sysfs shows the devices of the namespace that
// mounted it, so the setting is written through a sysfs mounted in a
// throwaway mount namespace (unshare --mount) made from this network
// namespace: the host's lo is never touched. Callers must be in a private
// network namespace.
func SteerTo(cpu int) error {
	mask := "0"
	if cpu >= 0 {
		if cpu >= 64 {
			return fmt.Errorf("proc: steering to cpu %d: only cpus 0-63", cpu)
		}
		mask = strconv.FormatUint(1<<cpu, 16)
	}
	script := "mount -t sysfs sysfs /sys && echo " + mask + " > /sys/class/net/lo/queues/rx-0/rps_cpus"
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("proc: receive packet steering on lo: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
