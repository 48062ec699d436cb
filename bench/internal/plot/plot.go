// Package plot draws the benchmarks' figures as SVG: lines of points over
// a grid of five steps on each axis, points filled when they passed and
// hollow when they did not, a legend, and optionally a second y axis on
// the right, a y = x diagonal and a horizontal guide line.
package plot

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Point is one mark: hollow when the measurement failed its criterion.
type Point struct {
	X, Y   float64
	Hollow bool
}

// Series is one line of the plot.
type Series struct {
	Name, Color string
	Dash        string // stroke-dasharray, "" solid
	Right       bool   // drawn against the right axis
	Points      []Point
}

// Axis is one axis: its label, its top value and how its ticks read.
type Axis struct {
	Label string
	Max   float64
	Tick  func(float64) string
	Color string // for the right axis's label and ticks
}

// Guide is a dashed horizontal line at Y on the left axis, labelled.
type Guide struct {
	Y     float64
	Label string
}

// Plot is one figure. Zero sizes take 640×420 with margins 70, 20, 30, 50.
type Plot struct {
	Title                    string
	Width, Height            int
	Left, Right, Top, Bottom int
	X, Y                     Axis
	Y2                       *Axis // the right axis, for series with Right
	Series                   []Series
	Diagonal                 bool   // a dashed y = x line (X and Y to the same scale)
	Guide                    *Guide // drawn when within the left axis
	LegendX                  int    // left edge of the legend; 0: Left+14
	Note                     string // under the legend
}

// WriteSVG draws p.
func (p Plot) WriteSVG(w io.Writer) error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.Width, 640)
	def(&p.Height, 420)
	def(&p.Left, 70)
	def(&p.Right, 20)
	def(&p.Top, 30)
	def(&p.Bottom, 50)
	def(&p.LegendX, p.Left+14)
	width, height, left, right, top, bottom := p.Width, p.Height, p.Left, p.Right, p.Top, p.Bottom
	px := func(v float64) float64 { return float64(left) + v/p.X.Max*float64(width-left-right) }
	py := func(v float64, a *Axis) float64 { return float64(height-bottom) - v/a.Max*float64(height-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s</text>`+"\n", left, esc(p.Title))
	for i := 0; i <= 5; i++ {
		x, y := p.X.Max*float64(i)/5, p.Y.Max*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px(x), top, px(x), height-bottom)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, py(y, &p.Y), width-right, py(y, &p.Y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), height-bottom+16, esc(p.X.Tick(x)))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(y, &p.Y)+4, esc(p.Y.Tick(y)))
		if a := p.Y2; a != nil {
			v := a.Max * float64(i) / 5
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="start" fill="%s">%s</text>`+"\n", width-right+6, py(v, a)+4, a.Color, esc(a.Tick(v)))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, height-bottom, width-right, height-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, height-bottom)
	if p.Y2 != nil {
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", width-right, top, width-right, height-bottom)
	}
	if p.Diagonal {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#bbb" stroke-dasharray="4 4"/>`+"\n", px(0), py(0, &p.Y), px(p.X.Max), py(p.Y.Max, &p.Y))
	}
	if g := p.Guide; g != nil && g.Y <= p.Y.Max {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#999" stroke-dasharray="4 4"/>`+"\n", left, py(g.Y, &p.Y), width-right, py(g.Y, &p.Y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#666">%s</text>`+"\n", left+6, py(g.Y, &p.Y)-4, esc(g.Label))
	}
	mid := (top + height - bottom) / 2
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (left+width-right)/2, height-12, esc(p.X.Label))
	fmt.Fprintf(&b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>`+"\n", mid, mid, esc(p.Y.Label))
	if a := p.Y2; a != nil {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s" transform="rotate(90 %d %d)">%s</text>`+"\n", width-14, mid, a.Color, width-14, mid, esc(a.Label))
	}
	for i, s := range p.Series {
		a := &p.Y
		if s.Right && p.Y2 != nil {
			a = p.Y2
		}
		dash := ""
		if s.Dash != "" {
			dash = ` stroke-dasharray="` + s.Dash + `"`
		}
		var line []string
		for _, q := range s.Points {
			line = append(line, fmt.Sprintf("%.1f,%.1f", px(q.X), py(q.Y, a)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", s.Color, dash, strings.Join(line, " "))
		for _, q := range s.Points {
			fill := s.Color
			if q.Hollow {
				fill = "white"
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="2"/>`+"\n", px(q.X), py(q.Y, a), fill, s.Color)
		}
		y := top + 16 + 18*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", p.LegendX, y-4, p.LegendX+20, y-4, s.Color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", p.LegendX+26, y, esc(s.Name))
	}
	if p.Note != "" {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">%s</text>`+"\n", p.LegendX, top+16+18*len(p.Series), esc(p.Note))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

var esc = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// NiceCeil rounds v up to 1, 2 or 5 times a power of ten.
func NiceCeil(v float64) float64 {
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// Curves checks that svg is well-formed XML and counts its lines of points
// (polylines).
func Curves(svg string) (int, error) {
	dec := xml.NewDecoder(strings.NewReader(svg))
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("SVG is not well-formed XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			n++
		}
	}
}
