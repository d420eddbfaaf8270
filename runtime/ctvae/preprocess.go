package ctvae

import "math"

// Preprocessing a model expects of its input images (weights metadata
// "preprocess").
const (
	// PreprocessNone feeds images as they are (our own training).
	PreprocessNone = "none"
	// PreprocessOfficialPad42 is the official data module's ToTensor,
	// CenterCrop(148), Resize(64): on a 64x64 image the crop zero-pads 42 px
	// on every side, then a bilinear resize (align_corners=False, no
	// antialias) shrinks the scene into the central ~28x28 px.
	PreprocessOfficialPad42 = "official-pad42"
)

// officialCrop is the official CenterCrop size.
const officialCrop = 148

// PreprocessOfficial writes into dst [C, S, S] the official preprocessing of
// src [C, S, S]: zero-pad to 148x148 as torchvision's CenterCrop does for a
// crop larger than the image (left/top get (148-S)/2, right/bottom the rest),
// then torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
// back to S x S:
//
//	src_coord = max((dst + 0.5)·148/S - 0.5, 0), i0 = floor, i1 = min(i0+1, 147),
//	out = lerp over rows of lerp over columns, in float32 as torch does.
func PreprocessOfficial(dst, src []float32, channels, size int) {
	if len(dst) != channels*size*size || len(src) != len(dst) {
		panic("ctvae: preprocess buffer length mismatch")
	}
	padLo := (officialCrop - size) / 2
	at := func(c, y, x int) float32 {
		y, x = y-padLo, x-padLo
		if y < 0 || y >= size || x < 0 || x >= size {
			return 0
		}
		return src[(c*size+y)*size+x]
	}
	scale := float32(officialCrop) / float32(size)
	coord := func(o int) (int, int, float32) {
		s := max((float32(o)+0.5)*scale-0.5, 0)
		i0 := int(math.Floor(float64(s)))
		i1 := min(i0+1, officialCrop-1)
		return i0, i1, s - float32(i0)
	}
	for c := 0; c < channels; c++ {
		for y := 0; y < size; y++ {
			y0, y1, ly := coord(y)
			for x := 0; x < size; x++ {
				x0, x1, lx := coord(x)
				top := (1-lx)*at(c, y0, x0) + lx*at(c, y0, x1)
				bot := (1-lx)*at(c, y1, x0) + lx*at(c, y1, x1)
				dst[(c*size+y)*size+x] = (1-ly)*top + ly*bot
			}
		}
	}
}
