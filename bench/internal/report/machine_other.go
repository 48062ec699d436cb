//go:build !linux

package report

// ReadMachine knows nothing outside Linux.
func ReadMachine() Machine { return Machine{} }
