// Package timeline draws a boot as a Gantt chart in SVG (like `systemd-analyze plot`): one bar
// per step on a time axis, steps that ran in parallel side by side in time, failed and skipped
// steps marked, and the critical path — the chain of steps that decided when the boot ended —
// highlighted. Pure: bars in, SVG text out (standard library only).
package timeline

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// Bar is one step. Times are milliseconds from the start of the boot.
type Bar struct {
	Name    string
	Status  string // ok | failed | skipped | abandoned | not-run | anything else (drawn as ok)
	StartMS float64
	DurMS   float64
	After   []string // the steps it waited for
	Error   string   // shown as the bar's tooltip
}

func (b Bar) end() float64 { return b.StartMS + b.DurMS }

// CriticalPath returns the names on the chain that ended last: from the step that finished
// last, back through the predecessor that finished last before it started, to a step that
// waited for nothing. Steps that did not run are not on it.
func CriticalPath(bars []Bar) map[string]bool {
	by := map[string]Bar{}
	var last *Bar
	for i := range bars {
		b := bars[i]
		if b.Status == "not-run" {
			continue
		}
		by[b.Name] = b
		if last == nil || b.end() > last.end() || (b.end() == last.end() && b.Name < last.Name) {
			last = &bars[i]
		}
	}
	path := map[string]bool{}
	for cur, ok := by[nameOf(last)]; ok && !path[cur.Name]; {
		path[cur.Name] = true
		var next Bar
		found := false
		for _, a := range cur.After {
			p, ok := by[a]
			if !ok {
				continue
			}
			if !found || p.end() > next.end() || (p.end() == next.end() && p.Name < next.Name) {
				next, found = p, true
			}
		}
		if !found {
			break
		}
		cur = next
	}
	return path
}

func nameOf(b *Bar) string {
	if b == nil {
		return ""
	}
	return b.Name
}

// Layout constants, in SVG user units (pixels).
const (
	labelW  = 220.0
	plotW   = 760.0
	rowH    = 22.0
	barH    = 14.0
	topH    = 56.0
	bottomH = 48.0
	margin  = 12.0
	rightW  = 48.0 // room for the last axis label and a duration after the longest bar
)

// SVG renders the chart. title is printed at the top (e.g. "boot report: ok").
func SVG(title string, bars []Bar) string {
	rows := make([]Bar, len(bars))
	copy(rows, bars)
	// Rows in start order (not-run steps last), so parallel steps sit next to each other.
	sort.SliceStable(rows, func(i, j int) bool {
		ni, nj := rows[i].Status == "not-run", rows[j].Status == "not-run"
		if ni != nj {
			return nj
		}
		return rows[i].StartMS < rows[j].StartMS
	})
	total := 0.0
	for _, b := range rows {
		if b.Status != "not-run" {
			total = math.Max(total, b.end())
		}
	}
	tick := niceTick(total)
	span := math.Max(tick, math.Ceil(total/tick)*tick)
	x := func(ms float64) float64 { return margin + labelW + ms/span*plotW }
	width := margin*2 + labelW + plotW + rightW
	height := topH + float64(len(rows))*rowH + bottomH
	crit := CriticalPath(rows)

	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	s.WriteString(`<defs><pattern id="skip" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#bbbbbb"/></pattern></defs>` + "\n")
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", margin, esc(title))
	fmt.Fprintf(&s, `<text x="%.0f" y="40" fill="#555555">%d steps, %s in all; critical path in orange</text>`+"\n", margin, len(rows), ms(total))

	// Time axis: grid lines and labels.
	plotTop, plotBottom := topH, topH+float64(len(rows))*rowH
	for t := 0.0; t <= span+tick/2; t += tick {
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", x(t), plotTop, x(t), plotBottom)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555">%s</text>`+"\n", x(t), plotBottom+16, ms(t))
	}
	for i, b := range rows {
		y := topH + float64(i)*rowH
		if i%2 == 1 {
			fmt.Fprintf(&s, `<rect x="%.0f" y="%.1f" width="%.0f" height="%.0f" fill="#f6f6f6"/>`+"\n", margin, y, labelW+plotW, rowH)
		}
		label := b.Name
		if b.Status != "ok" && b.Status != "" {
			label += " (" + b.Status + ")"
		}
		weight := ""
		if crit[b.Name] {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(&s, `<text x="%.0f" y="%.1f"%s>%s</text>`+"\n", margin+4, y+rowH/2+4, weight, esc(label))
		if b.Status == "not-run" {
			continue
		}
		fill, stroke := "#4a7fb5", "none"
		switch b.Status {
		case "failed":
			fill = "#d9534f"
		case "abandoned": // still running when shutdown's grace ran out
			fill = "#8e44ad"
		case "skipped":
			fill = "url(#skip)"
		}
		if crit[b.Name] {
			stroke = "#f0a000"
			if b.Status == "ok" {
				fill = "#f0a000"
			}
		}
		w := math.Max(1.5, x(b.end())-x(b.StartMS))
		tip := fmt.Sprintf("%s: %s, +%s for %s", b.Name, b.Status, ms(b.StartMS), ms(b.DurMS))
		if b.Error != "" {
			tip += ": " + b.Error
		}
		fmt.Fprintf(&s, `<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="2" fill="%s" stroke="%s" stroke-width="2"><title>%s</title></rect>`+"\n",
			esc(b.Status), x(b.StartMS), y+(rowH-barH)/2, w, barH, fill, stroke, esc(tip))
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" fill="#333333" font-size="11">%s</text>`+"\n", x(b.StartMS)+w+4, y+rowH/2+4, ms(b.DurMS))
	}
	// Legend.
	ly := plotBottom + 36
	lx := margin
	for _, l := range []struct{ fill, text string }{{"#4a7fb5", "ok"}, {"#f0a000", "critical path"}, {"#d9534f", "failed"}, {"#8e44ad", "abandoned"}, {"url(#skip)", "skipped"}} {
		fmt.Fprintf(&s, `<rect x="%.0f" y="%.0f" width="14" height="10" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n", lx, ly-9, l.fill, lx+18, ly, l.text)
		lx += 30 + float64(len(l.text))*7
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// niceTick picks a grid step (1, 2 or 5 × 10^n ms) giving about 5–10 lines.
func niceTick(total float64) float64 {
	if total <= 0 {
		return 1
	}
	raw := total / 8
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 10000:
		return fmt.Sprintf("%.1fs", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}

func esc(s string) string { return html.EscapeString(s) }
