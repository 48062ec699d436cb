//go:build !linux

package ingest

import "context"

// Run needs Linux (sendmmsg, recvmmsg, CPU pinning, /proc).
func Run(ctx context.Context, cfg Config) (*Report, error) { return nil, ErrUnsupported }
