//go:build race

// Package race reports whether the race detector is built in. Under it a
// syscall's buffer escapes to the heap (the detector records the range it
// writes) and sync.Pool drops items on purpose, so the allocation tests
// of the hot path skip: what they prove is about the build operators run.
package race

// Enabled is true in a -race build.
const Enabled = true
