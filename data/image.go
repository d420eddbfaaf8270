package data

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
)

// ===== images for files and pages =====

// ToImage converts one rendered image ([C, S, S], values in [0, 1], C = 1 or
// 3) to a Gray or RGBA image.
func ToImage(x []float32, channels, size int) (image.Image, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("data: image with %d channels, want 1 or 3", channels)
	}
	plane := size * size
	if size <= 0 || len(x) != channels*plane {
		return nil, fmt.Errorf("data: image holds %d values, want %dx%dx%d", len(x), channels, size, size)
	}
	if channels == 1 {
		g := image.NewGray(image.Rect(0, 0, size, size))
		for i, v := range x {
			g.Pix[i] = to8(v)
		}
		return g, nil
	}
	m := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < plane; i++ {
		m.Pix[4*i] = to8(x[i])
		m.Pix[4*i+1] = to8(x[plane+i])
		m.Pix[4*i+2] = to8(x[2*plane+i])
		m.Pix[4*i+3] = 255
	}
	return m, nil
}

func to8(v float32) uint8 {
	return uint8(min(max(v, 0), 1)*255 + 0.5)
}

// RenderImage renders image index of ds as an image.Image.
func RenderImage(ds Dataset, index int) (image.Image, error) {
	x := make([]float32, ImageLen(ds))
	if err := ds.Render(x, index); err != nil {
		return nil, err
	}
	return ToImage(x, ds.Channels(), ds.Size())
}

// WritePNG renders image index of ds as PNG to w.
func WritePNG(w io.Writer, ds Dataset, index int) error {
	m, err := RenderImage(ds, index)
	if err != nil {
		return err
	}
	return png.Encode(w, m)
}

// SheetGap is the width in pixels of the grey lines between sheet cells.
const SheetGap = 2

// ContactSheet draws one row per factor of ds: the image with factor values
// base, except that row f steps factor f through cols values evenly spread
// over its range (all values when it has at most cols). Unused cells stay
// dark grey.
func ContactSheet(ds Dataset, base []int, cols int) (image.Image, error) {
	if _, err := ds.IndexOf(base); err != nil {
		return nil, err
	}
	if cols < 2 {
		return nil, fmt.Errorf("data: contact sheet with %d columns, want at least 2", cols)
	}
	fs := ds.Factors()
	s := ds.Size()
	cell := s + SheetGap
	sheet := image.NewRGBA(image.Rect(0, 0, cols*cell+SheetGap, len(fs)*cell+SheetGap))
	draw.Draw(sheet, sheet.Bounds(), image.NewUniform(color.Gray{96}), image.Point{}, draw.Src)
	v := make([]int, len(fs))
	for row, f := range fs {
		n := min(cols, f.Size)
		for col := 0; col < n; col++ {
			copy(v, base)
			// Evenly spread, first and last value always shown.
			v[row] = col * (f.Size - 1) / (n - 1)
			index, err := ds.IndexOf(v)
			if err != nil {
				return nil, err
			}
			m, err := RenderImage(ds, index)
			if err != nil {
				return nil, err
			}
			at := image.Pt(SheetGap+col*cell, SheetGap+row*cell)
			draw.Draw(sheet, image.Rectangle{at, at.Add(image.Pt(s, s))}, m, image.Point{}, draw.Src)
		}
	}
	return sheet, nil
}
