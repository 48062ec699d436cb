//go:build !linux

package bpf

// Filter is a socket filter; only Linux implements it.
type Filter struct{}

// FallbackError says why a Filter runs classic BPF; only Linux makes one.
type FallbackError struct {
	Step string
	Err  error
}

func (e *FallbackError) Error() string {
	return "bpf: eBPF unavailable, using classic BPF: " + e.Step + ": " + e.Err.Error()
}

func (e *FallbackError) Unwrap() error { return e.Err }

// New returns ErrUnsupported outside Linux.
func New(kind Kind) (*Filter, error) { return nil, ErrUnsupported }

// Kind returns KindTS outside Linux.
func (f *Filter) Kind() Kind { return KindTS }

// Mode returns ModeClassic outside Linux.
func (f *Filter) Mode() Mode { return ModeClassic }

// Why returns ErrUnsupported outside Linux.
func (f *Filter) Why() error { return ErrUnsupported }

// Attach returns ErrUnsupported outside Linux.
func (f *Filter) Attach(fd int) error { return ErrUnsupported }

// Counts returns ok=false outside Linux.
func (f *Filter) Counts() (c Counts, ok bool, err error) { return Counts{}, false, nil }

// Close does nothing outside Linux.
func (f *Filter) Close() error { return nil }

// Probe returns ErrUnsupported outside Linux.
func Probe() (Mode, error) { return ModeClassic, ErrUnsupported }

// SocketDrops returns ErrUnsupported outside Linux.
func SocketDrops(fd int) (uint64, error) { return 0, ErrUnsupported }
