package data

import "math"

// ===== Shapes3D-style room =====
//
// A small ray caster: a room (floor y = 0, back wall, two side walls, all
// walls one hue) with one object standing at the origin on the floor, seen by
// a camera that orbits the vertical axis through the object (the orientation
// factor). One directional light gives Lambert shading, a specular highlight
// on the object and the object's hard shadow, so shapes read as 3D. Each
// pixel averages a 2x2 grid of rays.

const (
	shapes3dSize = 64
	shapes3dSS   = 2 // rays per pixel side

	roomBack = 2.5 // back wall plane z
	roomSide = 3.2 // side wall planes x = +-roomSide

	camDist    = 4.6
	camHeight  = 2.0
	camTargetY = 0.9
	camTanHalf = 0.5 // tan of half the field of view (~45 degrees)

	ambient   = 0.45
	diffuse   = 0.55
	specular  = 0.35
	shininess = 24

	saturation = 0.85
	brightness = 0.95
)

// Surfaces a ray can hit; tests use them as bits of a per-pixel coverage mask.
const (
	hitFloor = 1 << iota
	hitWall
	hitObject
	hitShadow // a room ray whose light the object blocks
)

// Shapes3DShapes names the values of the shape factor.
var Shapes3DShapes = []string{"cube", "cylinder", "sphere", "capsule"}

// Shapes3D is the 480,000-image Shapes3D-style set: 64x64 RGB.
type Shapes3D struct {
	space
	hues   [10]float64
	scales [8]float64
	angles [15]float64 // camera azimuth, radians
	light  vec3
}

// NewShapes3D returns the Shapes3D-style dataset. Factors: floor_hue 10,
// wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15.
func NewShapes3D() *Shapes3D {
	d := &Shapes3D{space: newSpace("shapes3d", []Factor{
		{"floor_hue", 10}, {"wall_hue", 10}, {"object_hue", 10},
		{"scale", 8}, {"shape", 4}, {"orientation", 15},
	})}
	for i := range d.hues {
		d.hues[i] = float64(i) / 10
	}
	copy(d.scales[:], linspace(0.75, 1.25, 8))
	for i, deg := range linspace(-30, 30, 15) {
		d.angles[i] = deg * math.Pi / 180
	}
	// From above, in front and to the left, so the floor, the back wall and
	// the two side walls all get different brightness.
	d.light = vec3{-0.45, 0.8, -0.5}.norm()
	return d
}

func (d *Shapes3D) Channels() int { return 3 }
func (d *Shapes3D) Size() int     { return shapes3dSize }

// Render draws image index as RGB planes [3, 64, 64].
func (d *Shapes3D) Render(dst []float32, index int) error {
	if err := d.checkIndex(index); err != nil {
		return err
	}
	if err := d.checkDst(dst, 3, shapes3dSize); err != nil {
		return err
	}
	var f [6]int
	d.decode(f[:], index)
	d.render(dst, nil, f)
	return nil
}

// ----- vectors -----

type vec3 struct{ x, y, z float64 }

func (a vec3) add(b vec3) vec3    { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec3) sub(b vec3) vec3    { return vec3{a.x - b.x, a.y - b.y, a.z - b.z} }
func (a vec3) mul(s float64) vec3 { return vec3{a.x * s, a.y * s, a.z * s} }
func (a vec3) dot(b vec3) float64 { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec3) norm() vec3         { return a.mul(1 / math.Sqrt(a.dot(a))) }
func (a vec3) cross(b vec3) vec3 {
	return vec3{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}

// hsv converts a hue in [0, 1) with fixed saturation and value to RGB.
func hsv(h float64) vec3 {
	h6 := h * 6
	i := int(h6) % 6
	f := h6 - math.Floor(h6)
	v := brightness
	p := v * (1 - saturation)
	q := v * (1 - saturation*f)
	t := v * (1 - saturation*(1-f))
	switch i {
	case 0:
		return vec3{v, t, p}
	case 1:
		return vec3{q, v, p}
	case 2:
		return vec3{p, v, t}
	case 3:
		return vec3{p, q, v}
	case 4:
		return vec3{t, p, v}
	default:
		return vec3{v, p, q}
	}
}

// ----- scene -----

// object is the shape on the floor, in world coordinates.
type object struct {
	shape  int
	half   float64 // cube half-size, cylinder/sphere/capsule radius
	height float64 // cylinder height
	segA   vec3    // capsule axis end points
	segB   vec3
	centre vec3 // bounding sphere
	bound  float64
}

func newObject(shape int, s float64) object {
	o := object{shape: shape}
	switch shape {
	case 0: // cube
		o.half = 0.62 * s
		o.centre = vec3{0, o.half, 0}
		o.bound = o.half * math.Sqrt(3)
	case 1: // cylinder, as tall as wide
		o.half = 0.6 * s
		o.height = 2 * o.half
		o.centre = vec3{0, o.half, 0}
		o.bound = o.half * math.Sqrt2
	case 2: // sphere
		o.half = 0.68 * s
		o.centre = vec3{0, o.half, 0}
		o.bound = o.half
	default: // capsule lying on the floor, axis along x
		o.half = 0.45 * s
		l := 0.6 * s
		o.segA = vec3{-l, o.half, 0}
		o.segB = vec3{l, o.half, 0}
		o.centre = vec3{0, o.half, 0}
		o.bound = l + o.half
	}
	// A margin so rounding never drops a grazing hit.
	o.bound *= 1.001
	return o
}

// hit returns the distance along the unit ray (ro, rd) to the object and
// the surface normal there, or t < 0 when the ray misses.
func (o *object) hit(ro, rd vec3) (float64, vec3) {
	oc := ro.sub(o.centre)
	b := oc.dot(rd)
	if c := oc.dot(oc) - o.bound*o.bound; b*b-c < 0 {
		return -1, vec3{}
	}
	switch o.shape {
	case 0:
		return hitBox(ro, rd, vec3{-o.half, 0, -o.half}, vec3{o.half, 2 * o.half, o.half})
	case 1:
		return hitCylinder(ro, rd, o.half, o.height)
	case 2:
		return hitSphere(ro, rd, o.centre, o.half)
	default:
		return hitCapsule(ro, rd, o.segA, o.segB, o.half)
	}
}

const eps = 1e-9

func hitSphere(ro, rd, c vec3, r float64) (float64, vec3) {
	oc := ro.sub(c)
	b := oc.dot(rd)
	h := b*b - (oc.dot(oc) - r*r)
	if h < 0 {
		return -1, vec3{}
	}
	t := -b - math.Sqrt(h)
	if t <= eps {
		return -1, vec3{}
	}
	return t, ro.add(rd.mul(t)).sub(c).mul(1 / r)
}

// hitBox is the slab test; the normal is that of the slab entered last.
func hitBox(ro, rd, lo, hi vec3) (float64, vec3) {
	tNear, tFar := math.Inf(-1), math.Inf(1)
	var n vec3
	axes := [3][4]float64{
		{ro.x, rd.x, lo.x, hi.x}, {ro.y, rd.y, lo.y, hi.y}, {ro.z, rd.z, lo.z, hi.z},
	}
	for i, a := range axes {
		if math.Abs(a[1]) < eps {
			if a[0] < a[2] || a[0] > a[3] {
				return -1, vec3{}
			}
			continue
		}
		t0, t1 := (a[2]-a[0])/a[1], (a[3]-a[0])/a[1]
		sign := -1.0
		if t0 > t1 {
			t0, t1 = t1, t0
			sign = 1
		}
		if t0 > tNear {
			tNear = t0
			n = vec3{}
			switch i {
			case 0:
				n.x = sign
			case 1:
				n.y = sign
			default:
				n.z = sign
			}
		}
		tFar = min(tFar, t1)
	}
	if tNear > tFar || tNear <= eps {
		return -1, vec3{}
	}
	return tNear, n
}

// hitCylinder intersects the vertical cylinder x^2 + z^2 <= r^2, 0 <= y <= h
// (its base lies on the floor, so only the side and the top can be hit first).
func hitCylinder(ro, rd vec3, r, h float64) (float64, vec3) {
	best := math.Inf(1)
	var n vec3
	a := rd.x*rd.x + rd.z*rd.z
	if a > eps {
		b := ro.x*rd.x + ro.z*rd.z
		c := ro.x*ro.x + ro.z*ro.z - r*r
		if disc := b*b - a*c; disc >= 0 {
			t := (-b - math.Sqrt(disc)) / a
			if y := ro.y + t*rd.y; t > eps && y >= 0 && y <= h {
				best = t
				p := ro.add(rd.mul(t))
				n = vec3{p.x / r, 0, p.z / r}
			}
		}
	}
	if math.Abs(rd.y) > eps {
		t := (h - ro.y) / rd.y
		p := ro.add(rd.mul(t))
		if t > eps && t < best && p.x*p.x+p.z*p.z <= r*r {
			best = t
			n = vec3{0, 1, 0}
		}
	}
	if math.IsInf(best, 1) {
		return -1, vec3{}
	}
	return best, n
}

// hitCapsule intersects the capsule of radius r around segment a-b
// (Inigo Quilez's formulation).
func hitCapsule(ro, rd, pa, pb vec3, r float64) (float64, vec3) {
	ba := pb.sub(pa)
	oa := ro.sub(pa)
	baba := ba.dot(ba)
	bard := ba.dot(rd)
	baoa := ba.dot(oa)
	rdoa := rd.dot(oa)
	oaoa := oa.dot(oa)
	a := baba - bard*bard
	b := baba*rdoa - baoa*bard
	c := baba*oaoa - baoa*baoa - r*r*baba
	h := b*b - a*c
	if h < 0 {
		return -1, vec3{}
	}
	t := (-b - math.Sqrt(h)) / a
	if y := baoa + t*bard; y <= 0 || y >= baba {
		// Past either end: the hemispherical cap there.
		end := pa
		if y > 0 {
			end = pb
		}
		var n vec3
		t, n = hitSphere(ro, rd, end, r)
		return t, n
	}
	if t <= eps {
		return -1, vec3{}
	}
	p := ro.add(rd.mul(t))
	k := p.sub(pa).dot(ba) / baba
	return t, p.sub(pa.add(ba.mul(k))).mul(1 / r)
}

// hitRoom returns the distance to the first room surface along a ray that
// starts inside the room, its normal and whether it is the floor.
func hitRoom(ro, rd vec3) (float64, vec3, bool) {
	t := math.Inf(1)
	n := vec3{}
	floor := false
	if rd.y < 0 {
		t = -ro.y / rd.y
		n = vec3{0, 1, 0}
		floor = true
	}
	if rd.z > 0 {
		if tw := (roomBack - ro.z) / rd.z; tw < t {
			t, n, floor = tw, vec3{0, 0, -1}, false
		}
	}
	if rd.x > 0 {
		if tw := (roomSide - ro.x) / rd.x; tw < t {
			t, n, floor = tw, vec3{-1, 0, 0}, false
		}
	} else if rd.x < 0 {
		if tw := (-roomSide - ro.x) / rd.x; tw < t {
			t, n, floor = tw, vec3{1, 0, 0}, false
		}
	}
	return t, n, floor
}

// render draws factor vector f into dst ([3, 64, 64]); when mask is not
// nil it also records, per pixel, the hit* bits of every surface its rays hit.
func (d *Shapes3D) render(dst []float32, mask []uint8, f [6]int) {
	floorCol, wallCol, objCol := hsv(d.hues[f[0]]), hsv(d.hues[f[1]]), hsv(d.hues[f[2]])
	obj := newObject(f[4], d.scales[f[3]])

	// Camera on a circle around the vertical axis, looking at the object.
	sa, ca := math.Sincos(d.angles[f[5]])
	eye := vec3{-camDist * sa, camHeight, -camDist * ca}
	fwd := vec3{0, camTargetY, 0}.sub(eye).norm()
	right := vec3{0, 1, 0}.cross(fwd).norm()
	up := fwd.cross(right)
	light := d.light

	const plane = shapes3dSize * shapes3dSize
	const w = 1.0 / (shapes3dSS * shapes3dSS)
	for r := 0; r < shapes3dSize; r++ {
		for c := 0; c < shapes3dSize; c++ {
			var sum vec3
			var bits uint8
			for sy := 0; sy < shapes3dSS; sy++ {
				py := 1 - 2*(float64(r)+(float64(sy)+0.5)/shapes3dSS)/shapes3dSize
				for sx := 0; sx < shapes3dSS; sx++ {
					px := 2*(float64(c)+(float64(sx)+0.5)/shapes3dSS)/shapes3dSize - 1
					rd := fwd.add(right.mul(px * camTanHalf)).add(up.mul(py * camTanHalf)).norm()
					col, bit := d.shade(eye, rd, &obj, light, floorCol, wallCol, objCol)
					sum = sum.add(col)
					bits |= bit
				}
			}
			i := r*shapes3dSize + c
			dst[i] = float32(min(sum.x*w, 1))
			dst[plane+i] = float32(min(sum.y*w, 1))
			dst[2*plane+i] = float32(min(sum.z*w, 1))
			if mask != nil {
				mask[i] = bits
			}
		}
	}
}

// shade returns the colour seen along one ray and the surface it hit.
func (d *Shapes3D) shade(eye, rd vec3, obj *object, light, floorCol, wallCol, objCol vec3) (vec3, uint8) {
	tRoom, n, floor := hitRoom(eye, rd)
	if tObj, on := obj.hit(eye, rd); tObj > 0 && tObj < tRoom {
		lambert := max(on.dot(light), 0)
		half := light.sub(rd).norm()
		spec := specular * math.Pow(max(on.dot(half), 0), shininess)
		k := ambient + diffuse*lambert
		return objCol.mul(k).add(vec3{spec, spec, spec}), hitObject
	}
	p := eye.add(rd.mul(tRoom))
	lit := max(n.dot(light), 0)
	var shadow uint8
	if lit > 0 {
		// Shadow ray towards the light, started just off the surface.
		if ts, _ := obj.hit(p.add(n.mul(1e-6)), light); ts > 0 {
			lit, shadow = 0, hitShadow
		}
	}
	k := ambient + diffuse*lit
	if floor {
		return floorCol.mul(k), hitFloor | shadow
	}
	return wallCol.mul(k), hitWall | shadow
}
