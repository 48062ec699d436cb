package sender

import "testing"

func TestGroupsDistinct(t *testing.T) {
	g := Groups(600)
	seen := map[string]bool{}
	for _, a := range g {
		if !a.Addr().IsMulticast() || seen[a.String()] {
			t.Fatalf("group %v not multicast or repeated", a)
		}
		seen[a.String()] = true
	}
	if g[599].Port() != 20599 {
		t.Errorf("port of group 599 = %d", g[599].Port())
	}
}
