//go:build !linux

package publish

import "context"

// Run needs Linux (CPU pinning, /proc, taskset).
func Run(ctx context.Context, cfg Config) (*Report, error) { return nil, ErrUnsupported }
