package plot

import (
	"fmt"
	"strings"
	"testing"
)

func TestNiceCeil(t *testing.T) {
	for _, c := range [][2]float64{{0.3, 0.5}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {180000, 200000}, {0.011, 0.02}} {
		if got := NiceCeil(c[0]); got != c[1] {
			t.Errorf("NiceCeil(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}

func TestWriteSVG(t *testing.T) {
	tick := func(v float64) string { return fmt.Sprint(v) }
	p := Plot{Title: "a < b", X: Axis{Label: "x", Max: 10, Tick: tick}, Y: Axis{Label: "y", Max: 5, Tick: tick},
		Y2:     &Axis{Label: "y2", Max: 1, Tick: tick, Color: "#2ca02c"},
		Series: []Series{{Name: "one", Color: "#444", Points: []Point{{1, 1, false}, {2, 3, true}}}, {Name: "two", Color: "#1f77b4", Right: true, Dash: "6 3"}},
		Guide:  &Guide{Y: 2, Label: "cores"}, Diagonal: true, Note: "filled: no loss"}
	var b strings.Builder
	if err := p.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	n, err := Curves(b.String())
	if err != nil || n != 2 {
		t.Fatalf("%d curves, %v:\n%s", n, err, b.String())
	}
	for _, want := range []string{"a &lt; b", `fill="white"`, `stroke-dasharray="6 3"`, ">cores<", ">y2<", ">filled: no loss<"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}
