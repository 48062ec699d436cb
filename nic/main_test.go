package nic

import (
	"testing"

	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }
