package state

import (
	"fmt"
	"math"
)

// RGB is a colour with 8-bit channels.
type RGB struct{ R, G, B uint8 }

// Hex is the CSS form, "#rrggbb".
func (c RGB) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Light reports whether dark text reads better than light text on c
// (relative luminance above the midpoint of the sRGB-weighted range).
func (c RGB) Light() bool {
	return 0.2126*float64(c.R)+0.7152*float64(c.G)+0.0722*float64(c.B) > 140
}

// CodeColor is the colour of codebook entry code. Hues step by the golden
// angle, so codes with near indices (which say nothing about similarity)
// still get clearly different colours, and lightness cycles through three
// levels to separate codes whose hues come round close again.
func CodeColor(code int) RGB {
	if code < 0 {
		return RGB{0x80, 0x80, 0x80}
	}
	h := math.Mod(float64(code)*137.50776405, 360)
	l := [3]float64{0.42, 0.62, 0.30}[code%3]
	return hsl(h, 0.70, l)
}

// hsl converts hue (degrees), saturation and lightness in [0,1] to RGB.
func hsl(h, s, l float64) RGB {
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := l - c/2
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	to8 := func(v float64) uint8 { return uint8(math.Round(255 * math.Max(0, math.Min(1, v+m)))) }
	return RGB{to8(r), to8(g), to8(b)}
}

// heatStops is a perceptually ordered dark-to-bright scale (sampled from
// viridis), so larger edge weights read as brighter on any display.
var heatStops = []RGB{
	{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37},
}

// Heat maps t in [0,1] (clamped; NaN counts as 0) to the heat scale.
func Heat(t float32) RGB {
	if !(t > 0) {
		return heatStops[0]
	}
	if t >= 1 {
		return heatStops[len(heatStops)-1]
	}
	x := float64(t) * float64(len(heatStops)-1)
	i := int(x)
	f := x - float64(i)
	a, b := heatStops[i], heatStops[i+1]
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + f*(float64(q)-float64(p)))) }
	return RGB{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B)}
}
