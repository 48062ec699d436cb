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

// MaxGroups is the most groups a shared filter counts.
const MaxGroups = 4096

// NewShared returns ErrUnsupported outside Linux.
func NewShared(kind Kind) (*Filter, error) { return nil, ErrUnsupported }

// Shared reports false outside Linux.
func (f *Filter) Shared() bool { return false }

// AddGroup returns ErrUnsupported outside Linux.
func (f *Filter) AddGroup(group [4]byte) error { return ErrUnsupported }

// RemoveGroup returns ErrUnsupported outside Linux.
func (f *Filter) RemoveGroup(group [4]byte) error { return ErrUnsupported }

// GroupCounts returns ErrUnsupported outside Linux.
func (f *Filter) GroupCounts(dst map[[4]byte]Counts) (stray Counts, err error) {
	return Counts{}, ErrUnsupported
}
