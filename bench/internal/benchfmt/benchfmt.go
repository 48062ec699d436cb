// Package benchfmt holds what the benchmarks' reports and their tests share:
// the words of a goal line and the reading of a markdown table or SVG plot.
package benchfmt

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Met is the verdict word of a goal line.
func Met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// OnOff says a setting.
func OnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// OrUnknown is s, or "unknown" when empty.
func OrUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Cells splits one markdown table row into its trimmed cells.
func Cells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Curves checks that svg is well-formed XML and counts its polylines.
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
