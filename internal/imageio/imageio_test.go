package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

func pngBytes(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripExactAtModelSize(t *testing.T) {
	data := make([]float32, 3*8*8)
	for i := range data {
		data[i] = float32(i%256) / 255
	}
	b, err := EncodePNG(data, 3, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Decode(b, 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	if in.Notice != "" {
		t.Errorf("notice %q for an image of the model's size", in.Notice)
	}
	for i, v := range in.Data {
		if d := v - data[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("value %d: %g, want %g", i, v, data[i])
		}
	}
}

func TestCropResizeAndGray(t *testing.T) {
	// 6x4 image: a 4x4 centre crop (columns 1..4), left half white.
	img := image.NewRGBA(image.Rect(0, 0, 6, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			c := color.RGBA{0, 0, 0, 255}
			if x < 3 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	in, err := Decode(pngBytes(t, img), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"centre-cropped 6x4 to 4x4", "resized 4x4 to 2x2", "grayscale"} {
		if !strings.Contains(in.Notice, want) {
			t.Errorf("notice %q lacks %q", in.Notice, want)
		}
	}
	// Left output column averages crop columns 1,2 (red): luma 0.299.
	if d := in.Data[0] - 0.299; d > 1e-4 || d < -1e-4 {
		t.Errorf("left pixel %g, want 0.299", in.Data[0])
	}
	if in.Data[1] != 0 {
		t.Errorf("right pixel %g, want 0", in.Data[1])
	}
}

func TestBadInputs(t *testing.T) {
	huge := image.NewGray(image.Rect(0, 0, 1, 1))
	hb := pngBytes(t, huge)
	// Patch the IHDR to 100000x100000 and fix the chunk's CRC.
	copy(hb[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	binary.BigEndian.PutUint32(hb[29:33], crc32.ChecksumIEEE(hb[12:29]))
	full := pngBytes(t, huge)
	cases := []struct {
		b        []byte
		ch, size int
		want     string
	}{
		{[]byte("hello"), 3, 64, "not a PNG or JPEG"},
		{nil, 3, 64, "not a PNG or JPEG"},
		{pngBytes(t, huge), 2, 64, "2 channels"},
		{pngBytes(t, huge), 3, 0, "size 0"},
		{hb, 3, 64, "more than the"},
		{full[:len(full)-16], 3, 64, "decoding png"},
	}
	for _, c := range cases {
		_, err := Decode(c.b, c.ch, c.size)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%d bytes, %d, %d): error %v, want %q", len(c.b), c.ch, c.size, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(pngBytes(f, image.NewGray(image.Rect(0, 0, 3, 5))), uint8(1), uint8(4))
	f.Add(pngBytes(f, image.NewRGBA(image.Rect(0, 0, 8, 8))), uint8(3), uint8(8))
	f.Add([]byte("\xff\xd8\xff\xe0garbage"), uint8(3), uint8(64))
	f.Fuzz(func(t *testing.T, b []byte, ch, size uint8) {
		channels := 1 + 2*int(ch%2)
		in, err := Decode(b, channels, int(size%70))
		if err == nil && len(in.Data) != channels*int(size%70)*int(size%70) {
			t.Fatalf("Decode returned %d values", len(in.Data))
		}
		for _, v := range in.Data {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %g outside [0,1]", v)
			}
		}
	})
}
