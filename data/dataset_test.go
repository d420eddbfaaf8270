package data

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func allDatasets() []Dataset { return []Dataset{NewDSprites(), NewShapes3D()} }

func TestNewKnowsBothDatasets(t *testing.T) {
	for _, tc := range []struct {
		name          string
		len, ch, acts int
		actions       []string
	}{
		{"dsprites", 737280, 1, 10, []string{"shape+", "scale+", "orientation+", "pos_x+", "pos_y+", "shape-", "scale-", "orientation-", "pos_x-", "pos_y-"}},
		{"shapes3d", 480000, 3, 12, []string{"floor_hue+", "wall_hue+", "object_hue+", "scale+", "shape+", "orientation+", "floor_hue-", "wall_hue-", "object_hue-", "scale-", "shape-", "orientation-"}},
	} {
		ds, err := New(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Name() != tc.name || ds.Len() != tc.len || ds.Channels() != tc.ch || ds.Size() != 64 || ds.NumActions() != tc.acts {
			t.Errorf("%s: name %s len %d channels %d size %d actions %d", tc.name, ds.Name(), ds.Len(), ds.Channels(), ds.Size(), ds.NumActions())
		}
		if !slices.Equal(ds.ActionNames(), tc.actions) {
			t.Errorf("%s: actions %v, want %v", tc.name, ds.ActionNames(), tc.actions)
		}
	}
}

func TestNewUnknownDataset(t *testing.T) {
	_, err := New("mnist")
	if err == nil || !strings.Contains(err.Error(), `"mnist"`) || !strings.Contains(err.Error(), "dsprites, shapes3d") {
		t.Fatalf("New(mnist) error %v, want it to name the input and the known datasets", err)
	}
}

// The original arrays are row-major over the factors (dSprites' latents_bases
// are 737280, 245760, 40960, 1024, 32, 1 with its single-valued colour
// first), so our indices name the same images as theirs.
func TestIndexMatchesOriginalOrder(t *testing.T) {
	ds := NewDSprites()
	got, err := ds.IndexOf([]int{1, 2, 3, 4, 5})
	if want := 1*245760 + 2*40960 + 3*1024 + 4*32 + 5; err != nil || got != want {
		t.Fatalf("IndexOf = %d, %v; want %d", got, err, want)
	}
	s3 := NewShapes3D()
	got, err = s3.IndexOf([]int{9, 8, 7, 6, 3, 14})
	if want := ((((9*10+8)*10+7)*8+6)*4+3)*15 + 14; err != nil || got != want {
		t.Fatalf("shapes3d IndexOf = %d, %v; want %d", got, err, want)
	}
}

func TestIndexRoundTrip(t *testing.T) {
	for _, ds := range allDatasets() {
		r := newRNG(1)
		for range 2000 {
			i := r.intn(ds.Len())
			v, err := ds.FactorsOf(i)
			if err != nil {
				t.Fatal(err)
			}
			j, err := ds.IndexOf(v)
			if err != nil || j != i {
				t.Fatalf("%s: IndexOf(FactorsOf(%d) = %v) = %d, %v", ds.Name(), i, v, j, err)
			}
		}
		last, _ := ds.FactorsOf(ds.Len() - 1)
		for k, f := range ds.Factors() {
			if last[k] != f.Size-1 {
				t.Errorf("%s: last image has %s = %d, want %d", ds.Name(), f.Name, last[k], f.Size-1)
			}
		}
	}
}

func TestBadInputsGiveClearErrors(t *testing.T) {
	ds := NewDSprites()
	dst := make([]float32, 64*64)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(ds.FactorsOf(-1)), "index -1 out of range [0, 737280)"},
		{second(ds.FactorsOf(737280)), "index 737280 out of range"},
		{second(ds.IndexOf([]int{0, 0, 0, 32, 0})), "factor pos_x = 32 out of range [0, 32)"},
		{second(ds.IndexOf([]int{0, -1, 0, 0, 0})), "factor scale = -1 out of range [0, 6)"},
		{second(ds.IndexOf([]int{0, 0})), "got 2 factor values, want 5"},
		{ds.Render(dst[:10], 0), "destination holds 10 values, want 4096"},
		{ds.Render(dst, ds.Len()), "out of range"},
		{NewShapes3D().Render(dst, 0), "destination holds 4096 values, want 12288"},
		{second(NewShapes3D().IndexOf([]int{0, 0, 0, 0, 4, 0})), "factor shape = 4 out of range [0, 4)"},
		{second(FactorIndex(ds, "colour")), `no factor "colour"`},
		{RenderBatch(ds, make([]float32, 2*4096), []int{0, -5}), "index -5 out of range"},
		{RenderBatch(ds, make([]float32, 4096), []int{0, 1}), "want 2 images x 4096"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestRenderIsDeterministicAndBatchMatches(t *testing.T) {
	for _, ds := range allDatasets() {
		l := ImageLen(ds)
		r := newRNG(7)
		idx := make([]int, 9)
		for i := range idx {
			idx[i] = r.intn(ds.Len())
		}
		batch := make([]float32, len(idx)*l)
		if err := RenderBatch(ds, batch, idx); err != nil {
			t.Fatal(err)
		}
		one := make([]float32, l)
		for i, k := range idx {
			// A fresh dataset value must give the same pixels.
			fresh, _ := New(ds.Name())
			if err := fresh.Render(one, k); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(one, batch[i*l:(i+1)*l]) {
				t.Fatalf("%s: image %d differs between Render and RenderBatch", ds.Name(), k)
			}
			for _, v := range one {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s: image %d has value %v outside [0, 1]", ds.Name(), k, v)
				}
			}
		}
	}
}

func TestRenderDoesNotAllocate(t *testing.T) {
	for _, ds := range allDatasets() {
		dst := make([]float32, ImageLen(ds))
		if n := testing.AllocsPerRun(5, func() { _ = ds.Render(dst, 12345) }); n != 0 {
			t.Errorf("%s: Render allocates %v times per image", ds.Name(), n)
		}
	}
}

// step returns the indices of a random setting with factor f at v and v+1.
func step(ds Dataset, r *rng, f int) (a, b int, v []int) {
	fs := ds.Factors()
	v = make([]int, len(fs))
	for i, fac := range fs {
		v[i] = r.intn(fac.Size)
	}
	v[f] = r.intn(fs[f].Size - 1)
	a, _ = ds.IndexOf(v)
	v[f]++
	b, _ = ds.IndexOf(v)
	v[f]--
	return a, b, v
}

func render(t *testing.T, ds Dataset, index int) []float32 {
	t.Helper()
	x := make([]float32, ImageLen(ds))
	if err := ds.Render(x, index); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestEveryStepChangesTheImage(t *testing.T) {
	for _, ds := range allDatasets() {
		r := newRNG(3)
		// Cheap dSprites gets more trials than the ray-traced room.
		trials := 300
		if ds.Channels() == 3 {
			trials = 60
		}
		for f, fac := range ds.Factors() {
			for range trials {
				a, b, v := step(ds, r, f)
				if slices.Equal(render(t, ds, a), render(t, ds, b)) {
					t.Errorf("%s: %s step %d -> %d leaves the image unchanged at %v", ds.Name(), fac.Name, v[f], v[f]+1, v)
				}
			}
		}
	}
}

// ===== dSprites geometry =====

// moments returns the on-pixel count and centroid (pixel centres at c+0.5).
func moments(x []float32) (mass, cx, cy float64) {
	for i, v := range x {
		if v != 0 {
			mass++
			cx += float64(i%64) + 0.5
			cy += float64(i/64) + 0.5
		}
	}
	return mass, cx / mass, cy / mass
}

func dsImage(t *testing.T, ds *DSprites, v ...int) []float32 {
	t.Helper()
	i, err := ds.IndexOf(v)
	if err != nil {
		t.Fatal(err)
	}
	return render(t, ds, i)
}

func TestDSpritesIsBinary(t *testing.T) {
	ds := NewDSprites()
	x := dsImage(t, ds, 2, 3, 7, 10, 20)
	for _, v := range x {
		if v != 0 && v != 1 {
			t.Fatalf("value %v, want 0 or 1", v)
		}
	}
}

func TestDSpritesCentreMapping(t *testing.T) {
	ds := NewDSprites()
	// Square and ellipse are symmetric, so their centroid is the centre
	// 16 + 32*pos, up to the half pixel that whole-pixel coverage can shift it.
	for _, shape := range []int{0, 1} {
		for _, p := range [][2]int{{0, 0}, {31, 31}, {7, 22}, {15, 16}} {
			_, cx, cy := moments(dsImage(t, ds, shape, 5, 0, p[0], p[1]))
			wx, wy := 16+32*float64(p[0])/31, 16+32*float64(p[1])/31
			if math.Abs(cx-wx) > 0.5 || math.Abs(cy-wy) > 0.5 {
				t.Errorf("shape %d at %v: centroid (%.2f, %.2f), want (%.2f, %.2f)", shape, p, cx, cy, wx, wy)
			}
		}
	}
}

func TestDSpritesExtents(t *testing.T) {
	ds := NewDSprites()
	// Columns and rows touched by the sprite at scale 1 and 0.5, orientation 0.
	extent := func(x []float32) (w, h int) {
		c0, c1, r0, r1 := 64, -1, 64, -1
		for i, v := range x {
			if v != 0 {
				c0, c1 = min(c0, i%64), max(c1, i%64)
				r0, r1 = min(r0, i/64), max(r1, i/64)
			}
		}
		return c1 - c0 + 1, r1 - r0 + 1
	}
	for _, tc := range []struct {
		shape, scale int
		w, h         float64 // continuous size: square 19, ellipse 26 x 14, heart 26.4 x 17.5
	}{
		{0, 5, 19, 19}, {0, 0, 9.5, 9.5}, {1, 5, 26, 14}, {1, 0, 13, 7}, {2, 5, 2 * 9.5, 17.5},
	} {
		w, h := extent(dsImage(t, ds, tc.shape, tc.scale, 0, 16, 16))
		if math.Abs(float64(w)-tc.w) > 1 || math.Abs(float64(h)-tc.h) > 1 {
			t.Errorf("shape %d scale %d: %dx%d pixels, want %.1fx%.1f within 1", tc.shape, tc.scale, w, h, tc.w, tc.h)
		}
	}
}

func TestDSpritesOrientationEndsAgree(t *testing.T) {
	ds := NewDSprites()
	for shape := range 3 {
		if !slices.Equal(dsImage(t, ds, shape, 5, 0, 10, 20), dsImage(t, ds, shape, 5, 39, 10, 20)) {
			t.Errorf("shape %d: orientations 0 and 39 (0 and 2pi) differ", shape)
		}
	}
}

func TestDSpritesRotationIsCounterClockwise(t *testing.T) {
	ds := NewDSprites()
	// The heart's lobes carry more mass than its tip: at t = 0 (tip down)
	// the centroid is above the centre; a quarter turn counter-clockwise on
	// screen (orientation 10 = 92 degrees) brings the tip to the right and
	// the centroid left of the centre.
	c := 16 + 32*15.0/31
	_, cx, cy := moments(dsImage(t, ds, 2, 5, 0, 15, 15))
	if cy > c-1 || math.Abs(cx-c) > 0.25 {
		t.Errorf("upright heart centroid (%.2f, %.2f), want above and level with (%.2f, %.2f)", cx, cy, c, c)
	}
	_, cx, cy = moments(dsImage(t, ds, 2, 5, 10, 15, 15))
	if cx > c-1 || math.Abs(cy-c) > 0.5 {
		t.Errorf("quarter-turned heart centroid (%.2f, %.2f), want left of and level with (%.2f, %.2f)", cx, cy, c, c)
	}
	// Same for the ellipse: at 92 degrees its long axis is vertical.
	x := dsImage(t, ds, 1, 5, 10, 15, 15)
	var sxx, syy float64
	for i, v := range x {
		if v != 0 {
			dx, dy := float64(i%64)+0.5-c, float64(i/64)+0.5-c
			sxx += dx * dx
			syy += dy * dy
		}
	}
	if syy < 3*sxx {
		t.Errorf("quarter-turned ellipse: spread x %.0f, y %.0f, want vertical long axis", sxx, syy)
	}
}

func TestDSpritesStepsMoveMassAsExpected(t *testing.T) {
	ds := NewDSprites()
	r := newRNG(11)
	pos := 32.0 / 31 // pixels per position step
	// Single steps can gain or lose a whole row or column of pixels, so
	// they get a pixel-rounding tolerance; the mean over the trials must
	// be close to the exact shift.
	const trials = 500
	var meanX, meanY float64
	for range trials {
		shape, scale, orient := r.intn(3), r.intn(6), r.intn(40)
		// Away from the border, so the whole sprite stays in frame.
		px, py := 8+r.intn(15), 8+r.intn(15)
		m0, x0, y0 := moments(dsImage(t, ds, shape, scale, orient, px, py))
		m1, x1, y1 := moments(dsImage(t, ds, shape, scale, orient, px+1, py))
		meanX += (x1 - x0) / trials
		if math.Abs(x1-x0-pos) > 0.6 || math.Abs(y1-y0) > 0.6 || math.Abs(m1-m0) > 0.15*m0 {
			t.Fatalf("pos_x step at %v: centroid moved (%.2f, %.2f), mass %v -> %v; want (%.2f, 0)", []int{shape, scale, orient, px, py}, x1-x0, y1-y0, m0, m1, pos)
		}
		m1, x1, y1 = moments(dsImage(t, ds, shape, scale, orient, px, py+1))
		meanY += (y1 - y0) / trials
		if math.Abs(y1-y0-pos) > 0.6 || math.Abs(x1-x0) > 0.6 || math.Abs(m1-m0) > 0.15*m0 {
			t.Fatalf("pos_y step at %v: centroid moved (%.2f, %.2f), want (0, %.2f)", []int{shape, scale, orient, px, py}, x1-x0, y1-y0, pos)
		}
		if scale < 5 {
			m1, x1, y1 = moments(dsImage(t, ds, shape, scale+1, orient, px, py))
			s0, s1 := 0.5+0.1*float64(scale), 0.6+0.1*float64(scale)
			// Area grows as scale squared; the centroid stays put up to
			// whole-pixel rounding (the heart's moves by 0.1 of its small
			// offset from the centre).
			want := s1 * s1 / (s0 * s0)
			drift := math.Hypot(x1-x0, y1-y0)
			if math.Abs(m1/m0-want) > 0.2*want || drift > 0.75 {
				t.Fatalf("scale step at %v: mass ratio %.2f (want %.2f), centroid moved %.2f", []int{shape, scale, orient, px, py}, m1/m0, want, drift)
			}
		}
		if orient < 39 {
			m1, x1, y1 = moments(dsImage(t, ds, shape, scale, orient+1, px, py))
			if math.Abs(m1-m0) > 0.15*m0 || (shape < 2 && math.Hypot(x1-x0, y1-y0) > 0.5) {
				t.Fatalf("orientation step at %v: mass %v -> %v, centroid moved (%.2f, %.2f)", []int{shape, scale, orient, px, py}, m0, m1, x1-x0, y1-y0)
			}
		}
	}
	if math.Abs(meanX-pos) > 0.05 || math.Abs(meanY-pos) > 0.05 {
		t.Errorf("mean centroid shift per position step (%.3f, %.3f), want %.3f", meanX, meanY, pos)
	}
}

// ===== Shapes3D: each factor touches only its part of the scene =====

func s3Render(ds *Shapes3D, v []int) ([]float32, []uint8) {
	x := make([]float32, 3*64*64)
	m := make([]uint8, 64*64)
	ds.render(x, m, [6]int(v))
	return x, m
}

func pixelEqual(a, b []float32, i int) bool {
	return a[i] == b[i] && a[4096+i] == b[4096+i] && a[8192+i] == b[8192+i]
}

func TestShapes3DHueStepsTouchOnlyTheirSurface(t *testing.T) {
	ds := NewShapes3D()
	r := newRNG(5)
	for f, bit := range []uint8{hitFloor, hitWall, hitObject} {
		for range 40 {
			_, _, v := step(ds, r, f)
			xa, ma := s3Render(ds, v)
			v[f]++
			xb, mb := s3Render(ds, v)
			if !slices.Equal(ma, mb) {
				t.Fatalf("%s step changed the geometry at %v", ds.factors[f].Name, v)
			}
			changed := 0
			for i, m := range ma {
				same := pixelEqual(xa, xb, i)
				if m&bit == 0 && !same {
					t.Fatalf("%s step at %v changed pixel %d, which does not show that surface (mask %b)", ds.factors[f].Name, v, i, m)
				}
				if m&^hitShadow == bit && !same {
					changed++
				}
				if m&^hitShadow == bit && same {
					t.Fatalf("%s step at %v left pixel %d of that surface unchanged", ds.factors[f].Name, v, i)
				}
			}
			if changed == 0 {
				t.Fatalf("%s step at %v: the surface is not visible", ds.factors[f].Name, v)
			}
		}
	}
}

func TestShapes3DObjectStepsTouchOnlyTheObjectAndItsShadow(t *testing.T) {
	ds := NewShapes3D()
	r := newRNG(6)
	for _, f := range []int{3, 4} { // scale, shape
		for range 40 {
			_, _, v := step(ds, r, f)
			xa, ma := s3Render(ds, v)
			v[f]++
			xb, mb := s3Render(ds, v)
			objectChanged := false
			for i := range ma {
				background := ma[i]&(hitObject|hitShadow) == 0 && mb[i]&(hitObject|hitShadow) == 0
				if background && !pixelEqual(xa, xb, i) {
					t.Fatalf("%s step at %v changed background pixel %d", ds.factors[f].Name, v, i)
				}
				if ma[i]&hitObject != mb[i]&hitObject {
					objectChanged = true
				}
			}
			if !objectChanged && f == 3 {
				t.Fatalf("scale step at %v left the object's silhouette unchanged", v)
			}
		}
	}
}

func TestShapes3DLooksLikeARoom(t *testing.T) {
	ds := NewShapes3D()
	r := newRNG(8)
	for range 30 {
		v := []int{r.intn(10), r.intn(10), r.intn(10), r.intn(8), r.intn(4), r.intn(15)}
		_, m := s3Render(ds, v)
		// Top row: walls only; bottom row: floor only; the image centre
		// column holds the object.
		for c := 0; c < 64; c++ {
			if m[c]&^hitShadow != hitWall || m[63*64+c]&^hitShadow != hitFloor {
				t.Fatalf("%v: column %d: top mask %b, bottom mask %b", v, c, m[c], m[63*64+c])
			}
		}
		object := 0
		for i := range m {
			if m[i]&hitObject != 0 {
				object++
			}
		}
		if object < 60 || object > 900 {
			t.Fatalf("%v: the object covers %d pixels, want a clearly visible one", v, object)
		}
	}
}
