package state

import (
	"fmt"
	"math"
)

// Pixels is an RGBA picture ready for a canvas's putImageData.
type Pixels struct {
	W, H int
	RGBA []byte // [H, W, 4]
}

// ImagePixels converts a model image [C, S, S] (C is 1 or 3, values in [0,1];
// the decoder's Tanh output can stray outside and is clamped) to RGBA.
func ImagePixels(img []float32, c, s int) (Pixels, error) {
	return StripPixels(img, 1, c, s)
}

// StripPixels lays out steps images [steps, C, S, S] side by side.
func StripPixels(imgs []float32, steps, c, s int) (Pixels, error) {
	if (c != 1 && c != 3) || s <= 0 || steps <= 0 {
		return Pixels{}, fmt.Errorf("state: image shape %d x [%d, %d, %d], want 1 or 3 channels and a positive size", steps, c, s, s)
	}
	if len(imgs) != steps*c*s*s {
		return Pixels{}, fmt.Errorf("state: %d image values, want %d x %d x %d x %d = %d", len(imgs), steps, c, s, s, steps*c*s*s)
	}
	w := steps * s
	p := Pixels{W: w, H: s, RGBA: make([]byte, 4*w*s)}
	plane := s * s
	for k := 0; k < steps; k++ {
		img := imgs[k*c*plane : (k+1)*c*plane]
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				o := 4 * (y*w + k*s + x)
				for ch := 0; ch < 3; ch++ {
					src := ch
					if c == 1 {
						src = 0
					}
					p.RGBA[o+ch] = unit8(img[src*plane+y*s+x])
				}
				p.RGBA[o+3] = 255
			}
		}
	}
	return p, nil
}

func unit8(v float32) byte {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return byte(math.Round(float64(v) * 255))
}

// HeatmapPixels draws an n x n matrix (row i = edges i -> j) on the heat
// scale, normalised by its largest absolute value so that a graph with
// small weights is still visible; it returns that value for the legend.
func HeatmapPixels(m []float32, n int) (Pixels, float32, error) {
	if n <= 0 || len(m) != n*n {
		return Pixels{}, 0, fmt.Errorf("state: adjacency of %d values, want %d x %d", len(m), n, n)
	}
	var max float32
	for _, v := range m {
		if a := float32(math.Abs(float64(v))); a > max {
			max = a
		}
	}
	p := Pixels{W: n, H: n, RGBA: make([]byte, 4*n*n)}
	for i, v := range m {
		t := float32(0)
		if max > 0 {
			t = float32(math.Abs(float64(v))) / max
		}
		c := Heat(t)
		p.RGBA[4*i], p.RGBA[4*i+1], p.RGBA[4*i+2], p.RGBA[4*i+3] = c.R, c.G, c.B, 255
	}
	return p, max, nil
}

// Grey converts p to grey levels in place (Rec. 601 luma, as the worker
// converts colour images for a one-channel model), so a preview shows what
// the model sees.
func Grey(p Pixels) {
	for i := 0; i+3 < len(p.RGBA); i += 4 {
		y := byte(math.Round(0.299*float64(p.RGBA[i]) + 0.587*float64(p.RGBA[i+1]) + 0.114*float64(p.RGBA[i+2])))
		p.RGBA[i], p.RGBA[i+1], p.RGBA[i+2] = y, y, y
	}
}
