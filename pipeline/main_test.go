package pipeline

import (
	"testing"

	"github.com/slabcast/slabcast/internal/testnet"
)

// The shared-socket tests send multicast: the package's tests run in a
// private network namespace (testnet re-executes the test binary there).
func TestMain(m *testing.M) { testnet.Main(m) }
