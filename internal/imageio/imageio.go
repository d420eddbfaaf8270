// Package imageio turns image files into model inputs and model outputs into
// PNGs: decode PNG or JPEG bytes, convert to the channels a model needs,
// centre-crop and resize to its size, and encode float32 CHW data as PNG.
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registered for Decode
	"image/png"
	"math"
)

// MaxPixels bounds an upload: larger images are refused before decoding, so a
// hostile file cannot make us allocate gigabytes (a 16k x 16k PNG header is
// enough to ask for 1 GiB).
const MaxPixels = 4096 * 4096

// Input is an image prepared for a model: [C, size, size] in [0, 1].
type Input struct {
	Data []float32
	// Notice says what was done to fit the model (empty when nothing was).
	Notice string
}

// Decode reads a PNG or JPEG and returns it as [channels, size, size] float32
// in [0,1]: RGB is averaged to grayscale (ITU-R 601 luma) for 1 channel,
// grayscale is replicated for 3; non-square images are centre-cropped to a
// square and other sizes are resized with area averaging (box filter).
func Decode(b []byte, channels, size int) (Input, error) {
	if channels != 1 && channels != 3 {
		return Input{}, fmt.Errorf("imageio: %d channels requested, want 1 or 3", channels)
	}
	if size < 1 || size > 4096 {
		return Input{}, fmt.Errorf("imageio: size %d requested, want 1..4096", size)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Input{}, fmt.Errorf("imageio: not a PNG or JPEG image (%d bytes): %w", len(b), err)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return Input{}, fmt.Errorf("imageio: %s image has size %dx%d", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return Input{}, fmt.Errorf("imageio: %s image is %dx%d, more than the %d pixels accepted", format, cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return Input{}, fmt.Errorf("imageio: decoding %s image: %w", format, err)
	}
	return FromImage(img, channels, size), nil
}

// FromImage converts a decoded image (see Decode).
func FromImage(img image.Image, channels, size int) Input {
	bounds := img.Bounds()
	w, h := bounds.Dx(), bounds.Dy()
	side := min(w, h)
	x0, y0 := bounds.Min.X+(w-side)/2, bounds.Min.Y+(h-side)/2
	var notes []string
	if w != h {
		notes = append(notes, fmt.Sprintf("centre-cropped %dx%d to %dx%d", w, h, side, side))
	}
	if side != size {
		notes = append(notes, fmt.Sprintf("resized %dx%d to %dx%d", side, side, size, size))
	}
	src := make([]float64, 3*side*side) // [3, side, side]
	gray := true
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			r, g, b, _ := img.At(x0+x, y0+y).RGBA()
			if r != g || g != b {
				gray = false
			}
			src[y*side+x] = float64(r) / 0xffff
			src[side*side+y*side+x] = float64(g) / 0xffff
			src[2*side*side+y*side+x] = float64(b) / 0xffff
		}
	}
	if channels == 1 && !gray {
		notes = append(notes, "converted colour to grayscale")
	}
	out := make([]float32, channels*size*size)
	for c := 0; c < channels; c++ {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				var v float64
				if channels == 1 {
					v = 0.299*boxSample(src[0:side*side], side, size, x, y) +
						0.587*boxSample(src[side*side:2*side*side], side, size, x, y) +
						0.114*boxSample(src[2*side*side:], side, size, x, y)
				} else {
					v = boxSample(src[c*side*side:(c+1)*side*side], side, size, x, y)
				}
				out[(c*size+y)*size+x] = float32(min(max(v, 0), 1))
			}
		}
	}
	notice := ""
	for i, n := range notes {
		if i > 0 {
			notice += "; "
		}
		notice += n
	}
	return Input{Data: out, Notice: notice}
}

// boxSample averages the source pixels covered by output pixel (x, y), weighting
// partially covered pixels by their overlap, so downscaling does not alias and
// upscaling is nearest-like without shifting the image.
func boxSample(plane []float64, side, size, x, y int) float64 {
	scale := float64(side) / float64(size)
	fx0, fx1 := float64(x)*scale, float64(x+1)*scale
	fy0, fy1 := float64(y)*scale, float64(y+1)*scale
	var sum, wsum float64
	for sy := int(fy0); sy < side && float64(sy) < fy1; sy++ {
		wy := math.Min(fy1, float64(sy+1)) - math.Max(fy0, float64(sy))
		for sx := int(fx0); sx < side && float64(sx) < fx1; sx++ {
			wx := math.Min(fx1, float64(sx+1)) - math.Max(fx0, float64(sx))
			sum += plane[sy*side+sx] * wx * wy
			wsum += wx * wy
		}
	}
	return sum / wsum
}

// ToImage converts [C, H, W] data to an image, mapping [lo, hi] to [0, 255]
// (the decoder's Tanh output is shown with lo=0, hi=1 and clamped, as the
// official code trains it against images in [0,1]).
func ToImage(data []float32, channels, h, w int, lo, hi float32) (image.Image, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("imageio: %d channels, want 1 or 3", channels)
	}
	if len(data) != channels*h*w {
		return nil, fmt.Errorf("imageio: %d values for a %dx%dx%d image", len(data), channels, h, w)
	}
	if !(hi > lo) {
		return nil, errors.New("imageio: empty value range")
	}
	to8 := func(v float32) uint8 {
		t := (v - lo) / (hi - lo)
		return uint8(math.Round(float64(min(max(t, 0), 1)) * 255))
	}
	if channels == 1 {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i, v := range data {
			img.Pix[i] = to8(v)
		}
		return img, nil
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{to8(data[y*w+x]), to8(data[h*w+y*w+x]), to8(data[2*h*w+y*w+x]), 255})
		}
	}
	return img, nil
}

// EncodePNG is ToImage followed by PNG encoding.
func EncodePNG(data []float32, channels, h, w int) ([]byte, error) {
	img, err := ToImage(data, channels, h, w, 0, 1)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("imageio: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}
