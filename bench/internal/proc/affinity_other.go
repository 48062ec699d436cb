//go:build !linux

package proc

import "errors"

var errAffinity = errors.New("proc: thread affinity needs Linux")

// Confine needs Linux.
func Confine(cpus ...int) (restore func(), err error) { return nil, errAffinity }

// OnCPU needs Linux.
func OnCPU(cpu int, f func() error) error { return errAffinity }
