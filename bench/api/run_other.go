//go:build !linux

package api

import "context"

// Run needs Linux (sendmmsg, CPU pinning, /proc, taskset).
func Run(ctx context.Context, cfg Config) (*Report, error) { return nil, ErrUnsupported }
