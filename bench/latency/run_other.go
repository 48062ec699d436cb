//go:build !linux

package latency

import "context"

// Run needs Linux (raw sockets, CPU pinning, taskset).
func Run(ctx context.Context, cfg Config) (*Report, error) { return nil, ErrUnsupported }
