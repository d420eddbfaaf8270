package data

import "math"

// ===== dSprites =====
//
// The geometry follows the measurements of the original dataset in
// docs/MODEL.md ("Datasets and transitions"): pixel (r, c) covers
// [c, c+1) x [r, r+1); a pixel is on when at least 0.4 of a 4x4 grid of
// sub-samples lies inside the shape; the centre is 16 + 32*pos; a point (u, v)
// of the shape (v down) lands at x = cx + s(u cos t + v sin t),
// y = cy + s(-u sin t + v cos t), i.e. counter-clockwise rotation on screen.

// DSprites factor values, as in the original dataset.
const (
	dspritesSize    = 64
	dspritesSubgrid = 4
	// A pixel is on when count/16 >= 0.4, i.e. count >= 6.4.
	dspritesMinCount = 7
)

// DSpritesShapes names the values of the shape factor.
var DSpritesShapes = []string{"square", "ellipse", "heart"}

// DSprites is the 737,280-image dSprites set: 64x64, one binary channel.
type DSprites struct {
	space
	scale    [6]float64
	cos, sin [40]float64
	pos      [32]float64
	heart    [5][2]float64 // pentagon between the two lobes and the tip
}

// NewDSprites returns the dSprites dataset. Factors: shape 3, scale 6,
// orientation 40, pos_x 32, pos_y 32.
func NewDSprites() *DSprites {
	d := &DSprites{space: newSpace("dsprites", []Factor{
		{"shape", 3}, {"scale", 6}, {"orientation", 40}, {"pos_x", 32}, {"pos_y", 32},
	})}
	copy(d.scale[:], linspace(0.5, 1, 6))
	for i, t := range linspace(0, 2*math.Pi, 40) {
		d.sin[i], d.cos[i] = math.Sincos(t)
	}
	copy(d.pos[:], linspace(0, 1, 32))
	d.heart = heartPentagon()
	return d
}

// linspace matches numpy.linspace: start + i*step, with the last value
// exactly stop.
func linspace(start, stop float64, n int) []float64 {
	v := make([]float64, n)
	step := (stop - start) / float64(n-1)
	for i := range v {
		v[i] = start + float64(i)*step
	}
	v[n-1] = stop
	return v
}

// Heart: two discs of radius 5 at (+-4.5, -4) (lobes up, since v points down)
// and the convex pentagon tip (0, 8.5), right outer tangent point, right
// centre, left centre, left outer tangent point.
const (
	heartR    = 5.0
	heartCU   = 4.5
	heartCV   = -4.0
	heartTipV = 8.5
)

func heartPentagon() [5][2]float64 {
	// Outer tangent from the tip to the right disc: rotate the tip->centre
	// direction away from the axis by asin(r/d); the tangent length is
	// sqrt(d^2 - r^2).
	wu, wv := heartCU, heartCV-heartTipV
	d := math.Hypot(wu, wv)
	a := math.Asin(heartR / d)
	l := math.Sqrt(d*d - heartR*heartR)
	// Of the two tangents, the outer one ends at the larger u.
	tu, tv := math.Inf(-1), 0.0
	for _, rot := range [2]float64{a, -a} {
		sa, ca := math.Sincos(rot)
		u := (wu*ca - wv*sa) / d * l
		if u > tu {
			tu, tv = u, heartTipV+(wu*sa+wv*ca)/d*l
		}
	}
	return [5][2]float64{
		{0, heartTipV}, {tu, tv}, {heartCU, heartCV}, {-heartCU, heartCV}, {-tu, tv},
	}
}

func (d *DSprites) Channels() int { return 1 }
func (d *DSprites) Size() int     { return dspritesSize }

// inside reports whether shape-space point (u, v) belongs to the shape.
func (d *DSprites) inside(shape int, u, v float64) bool {
	switch shape {
	case 0:
		return math.Abs(u) <= 9.5 && math.Abs(v) <= 9.5
	case 1:
		a, b := u/13, v/7
		return a*a+b*b <= 1
	default:
		for _, cu := range [2]float64{heartCU, -heartCU} {
			du, dv := u-cu, v-heartCV
			if du*du+dv*dv <= heartR*heartR {
				return true
			}
		}
		p := &d.heart
		for i := range p {
			j := (i + 1) % len(p)
			// The vertices run clockwise in (u, v) as drawn on paper, i.e.
			// with negative turn in this v-down frame: inside is cross <= 0.
			ex, ey := p[j][0]-p[i][0], p[j][1]-p[i][1]
			if ex*(v-p[i][1])-ey*(u-p[i][0]) > 0 {
				return false
			}
		}
		return true
	}
}

// shapeRadius bounds |(u, v)| over each shape, so rendering only visits the
// pixels the shape can reach.
var shapeRadius = [3]float64{9.5 * math.Sqrt2, 13, heartTipV}

// Render draws image index: 1 where the sprite covers the pixel, else 0.
func (d *DSprites) Render(dst []float32, index int) error {
	if err := d.checkIndex(index); err != nil {
		return err
	}
	if err := d.checkDst(dst, 1, dspritesSize); err != nil {
		return err
	}
	var f [5]int
	d.decode(f[:], index)
	d.render(dst, f)
	return nil
}

func (d *DSprites) render(dst []float32, f [5]int) {
	clear(dst)
	shape := f[0]
	s := d.scale[f[1]]
	cos, sin := d.cos[f[2]], d.sin[f[2]]
	cx := 16 + 32*d.pos[f[3]]
	cy := 16 + 32*d.pos[f[4]]
	reach := s*shapeRadius[shape] + 1
	r0, r1 := clampPixel(cy-reach), clampPixel(cy+reach)
	c0, c1 := clampPixel(cx-reach), clampPixel(cx+reach)
	inv := 1 / s
	const step = 1.0 / dspritesSubgrid
	for r := r0; r <= r1; r++ {
		for c := c0; c <= c1; c++ {
			count := 0
			for sy := 0; sy < dspritesSubgrid; sy++ {
				dy := (float64(r) + (float64(sy)+0.5)*step - cy) * inv
				for sx := 0; sx < dspritesSubgrid; sx++ {
					dx := (float64(c) + (float64(sx)+0.5)*step - cx) * inv
					if d.inside(shape, dx*cos-dy*sin, dx*sin+dy*cos) {
						count++
					}
				}
			}
			if count >= dspritesMinCount {
				dst[r*dspritesSize+c] = 1
			}
		}
	}
}

func clampPixel(x float64) int {
	i := int(math.Floor(x))
	return min(max(i, 0), dspritesSize-1)
}
