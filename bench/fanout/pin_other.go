//go:build !linux

package fanout

import "errors"

// pinProcess needs Linux.
func pinProcess(cpus []int) (restore func(), err error) {
	return nil, errors.New("fanout: pinning threads needs Linux")
}
