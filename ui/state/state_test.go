package state

import (
	"encoding/binary"
	"strings"
	"testing"

	"ctvae/wasm/protocol"
)

func TestHistoryUndoReset(t *testing.T) {
	var h History
	if h.Current() != nil || h.Push(Step{Label: "x+"}) || h.Undo() || h.Reset() {
		t.Fatal("an empty history must have no current step and refuse push, undo and reset")
	}
	h.Start(Step{Label: "reconstruction", Action: -1})
	h.Push(Step{Label: "scale+", Action: 1})
	h.Push(Step{Label: "hue-", Action: 7})
	if got := strings.Join(h.Path(), ","); got != "scale+,hue-" {
		t.Fatalf("path %q, want scale+,hue-", got)
	}
	if !h.Undo() || h.Current().Label != "scale+" || h.Previous().Label != "reconstruction" {
		t.Fatalf("after undo: current %q", h.Current().Label)
	}
	h.Push(Step{Label: "a"})
	if !h.Reset() || h.Len() != 1 || h.Current().Label != "reconstruction" || h.CanUndo() {
		t.Fatalf("after reset: %d steps, current %q", h.Len(), h.Current().Label)
	}
	if h.Undo() || h.Reset() || h.Len() != 1 {
		t.Fatal("the reconstruction must never be undone")
	}
	h.Clear()
	if h.Current() != nil {
		t.Fatal("clear left a step")
	}
}

func TestStepChanged(t *testing.T) {
	s := Step{Input: []int32{1, 2, 3}, Codes: []int32{1, 5, 3}}
	ch := s.Changed()
	if ch[0] || !ch[1] || ch[2] {
		t.Fatalf("changed %v, want only node 1", ch)
	}
	s.Input = nil // VQ-only: nothing to compare with
	for _, c := range s.Changed() {
		if c {
			t.Fatal("no input must mean nothing changed")
		}
	}
}

func TestCodeColorDistinctAndStable(t *testing.T) {
	seen := map[RGB]int{}
	for k := 0; k < 512; k++ {
		c := CodeColor(k)
		if c != CodeColor(k) {
			t.Fatal("colour not deterministic")
		}
		if j, dup := seen[c]; dup {
			t.Fatalf("codes %d and %d share colour %s", j, k, c.Hex())
		}
		seen[c] = k
	}
	// Neighbouring codes must differ clearly (sum of channel differences).
	for k := 0; k < 255; k++ {
		a, b := CodeColor(k), CodeColor(k+1)
		d := abs(int(a.R)-int(b.R)) + abs(int(a.G)-int(b.G)) + abs(int(a.B)-int(b.B))
		if d < 60 {
			t.Errorf("codes %d and %d too similar: %s %s", k, k+1, a.Hex(), b.Hex())
		}
	}
	if CodeColor(-1).Hex() != "#808080" || (RGB{255, 255, 255}).Hex() != "#ffffff" {
		t.Fatal("hex or invalid-code colour wrong")
	}
	if !(RGB{255, 255, 255}).Light() || (RGB{0, 0, 0}).Light() {
		t.Fatal("Light wrong for white or black")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestHeat(t *testing.T) {
	if Heat(0) != heatStops[0] || Heat(-3) != heatStops[0] || Heat(1) != heatStops[4] || Heat(7) != heatStops[4] {
		t.Fatal("heat ends not clamped")
	}
	if Heat(0.5) != heatStops[2] {
		t.Fatalf("Heat(0.5) = %v, want the middle stop", Heat(0.5))
	}
	// Brightness rises monotonically along the scale.
	prev := -1.0
	for i := 0; i <= 20; i++ {
		c := Heat(float32(i) / 20)
		l := 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)
		if l < prev {
			t.Fatalf("heat scale darkens at %d/20", i)
		}
		prev = l
	}
}

func TestPixels(t *testing.T) {
	// Grey 1x2x2: clamped values; strip of two RGB 1x1 images.
	p, err := ImagePixels([]float32{-0.5, 0.5, 1.5, 1}, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 255, 255, 255, 255}
	if string(p.RGBA) != string(want) || p.W != 2 || p.H != 2 {
		t.Fatalf("grey pixels %v, want %v", p.RGBA, want)
	}
	s, err := StripPixels([]float32{1, 0, 0, 0, 0, 1}, 2, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.W != 2 || string(s.RGBA) != string([]byte{255, 0, 0, 255, 0, 0, 255, 255}) {
		t.Fatalf("strip %v", s.RGBA)
	}
	if _, err := ImagePixels(make([]float32, 5), 1, 2); err == nil {
		t.Fatal("a wrong length must be an error")
	}
	if _, err := ImagePixels(make([]float32, 8), 2, 2); err == nil {
		t.Fatal("2 channels must be an error")
	}
	h, max, err := HeatmapPixels([]float32{0, -2, 1, 0}, 2)
	if err != nil || max != 2 {
		t.Fatalf("heatmap max %v err %v", max, err)
	}
	if h.RGBA[4] != heatStops[4].R || h.RGBA[0] != heatStops[0].R {
		t.Fatal("heatmap not normalised by the largest |w|")
	}
	if _, _, err := HeatmapPixels(make([]float32, 3), 2); err == nil {
		t.Fatal("a wrong adjacency size must be an error")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		p    float32
		want string
	}{{0, "0 %"}, {0.0004, "< 0.1 %"}, {0.1234, "12.3 %"}, {0.9996, "> 99.9 %"}, {1, "100 %"}} {
		if got := Percent(c.p); got != c.want {
			t.Errorf("Percent(%v) = %q, want %q", c.p, got, c.want)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{-1, "unknown size"}, {512, "512 B"}, {7940384, "7.6 MiB"}, {1536, "1.5 KiB"}} {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if Millis(3.14) != "3.1 ms" || Millis(250.4) != "250 ms" || Millis(12345) != "12.3 s" || Millis(-1) != "n/a" {
		t.Error("Millis formats wrong")
	}
	if Fraction(5, 10) != 0.5 || Fraction(5, 0) != 0 || Fraction(20, 10) != 1 {
		t.Error("Fraction wrong")
	}
}

func TestParseManifest(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	b := []byte(`{"format":"ctvae-dist/1","go":"go1.26","files":{
	 "app.wasm":{"path":"app.1234.wasm","size":10,"sha256":"` + sha + `"},
	 "weights/untrained-shapes3d.safetensors":{"path":"weights/untrained-shapes3d.aa.safetensors","size":8,"sha256":"` + sha + `"},
	 "weights/shapes3d.safetensors":{"path":"weights/shapes3d.bb.safetensors","size":9,"sha256":"` + sha + `"},
	 "weights/shapes3d.md":{"path":"weights/shapes3d.cc.md","size":9,"sha256":"` + sha + `"}}}`)
	ms, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "weights/shapes3d.safetensors" || ms[0].Untrained || !ms[1].Untrained {
		t.Fatalf("models %+v: want the trained one first, then the untrained", ms)
	}
	if !strings.Contains(ms[1].Title(), UntrainedLabel) || ms[0].Title() != "shapes3d" {
		t.Fatalf("titles %q, %q", ms[0].Title(), ms[1].Title())
	}
	for _, bad := range []string{`nope`, `{"format":"other/2","files":{}}`,
		`{"format":"ctvae-dist/1","files":{"weights/a.safetensors":{"path":"a","size":1,"sha256":"short"}}}`} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("manifest %s accepted", bad)
		}
	}
}

func TestCheckWeightsFile(t *testing.T) {
	head := make([]byte, 9)
	binary.LittleEndian.PutUint64(head, 100)
	head[8] = '{'
	if err := CheckWeightsFile("m.safetensors", 200, head); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		size int64
		head []byte
	}{
		{"m.ckpt", 200, head},
		{"m.safetensors", 50, head}, // header longer than the file
		{"m.safetensors", 5, head[:5]},
		{"m.safetensors", 200, append(append([]byte{}, head[:8]...), 'x')},
		{"m.safetensors", protocol.MaxWeightsBytes + 1, head},
	} {
		if err := CheckWeightsFile(c.name, c.size, c.head); err == nil {
			t.Errorf("%s of %d bytes accepted", c.name, c.size)
		}
	}
}

func TestCheckImageFile(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n")
	if CheckImageFile("a.png", 100, png) != nil || CheckImageFile("b.jpg", 100, []byte{0xff, 0xd8, 0xff, 0xe0}) != nil {
		t.Fatal("PNG or JPEG refused")
	}
	if CheckImageFile("c.gif", 100, []byte("GIF89a")) == nil || CheckImageFile("a.png", 0, png) == nil ||
		CheckImageFile("a.png", protocol.MaxImageBytes+1, png) == nil {
		t.Fatal("bad image accepted")
	}
}

func TestPad(t *testing.T) {
	rows := Pad([]string{"hue+", "scale+", "hue-", "scale-", "odd"})
	want := []PadRow{{"hue", 0, 2}, {"scale", 1, 3}, {"odd", 4, -1}}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	if n, err := ParseSteps(" 8 ", 64); n != 8 || err != nil {
		t.Fatalf("ParseSteps(8) = %d, %v", n, err)
	}
	for _, s := range []string{"0", "65", "x", "", "2.5"} {
		if _, err := ParseSteps(s, 64); err == nil {
			t.Errorf("steps %q accepted", s)
		}
	}
}

func TestPairTruthAndBars(t *testing.T) {
	known := func(seed uint64) (int, bool) { return 3, seed == 7 }
	x := &Image{Label: "sample 7 x", Source: FromSample, Seed: 7, Side: 0, F32: []float32{0}}
	y := &Image{Label: "sample 7 y", Source: FromSample, Seed: 7, Side: 1, F32: []float32{0}}
	if tr := PairTruth(x, y, known); tr.Action != 3 || tr.Kind != "true action" {
		t.Fatalf("sample pair truth %+v", tr)
	}
	if tr := PairTruth(y, x, known); tr.Action != -1 {
		t.Fatal("a reversed pair must have no known truth")
	}
	other := &Image{Label: "sample 8 y", Source: FromSample, Seed: 8, Side: 1, F32: []float32{0}}
	if PairTruth(x, other, known).Action != -1 {
		t.Fatal("images of different pairs must have no known truth")
	}
	res := &Image{Label: "after hue+", Source: FromAction, Parent: x.Label, Action: 5, F32: []float32{0}}
	if tr := PairTruth(x, res, known); tr.Action != 5 || tr.Kind != "applied action" {
		t.Fatalf("action result truth %+v", tr)
	}
	if CheckPair(x, &Image{}) == nil || CheckPair(nil, y) == nil || CheckPair(x, y) != nil {
		t.Fatal("CheckPair wrong")
	}
	r := &protocol.Retrieval{Best: protocol.Named{Index: 1, Name: "b"},
		Actions: []protocol.Scored{{Index: 0, Name: "a", P: 0.2}, {Index: 1, Name: "b", P: 0.8}}}
	bars := Bars(r, 0)
	if bars[1].Width != 1 || bars[0].Width != 0.25 || !bars[1].Best || !bars[0].True || bars[0].Text != "20.0 %" {
		t.Fatalf("bars %+v", bars)
	}
	v := Verdict(r, Truth{Action: 0, Kind: "true action"}, func(int) string { return "a" })
	if !strings.Contains(v, "b (80.0 %)") || !strings.Contains(v, "differs from the true action a") {
		t.Fatalf("verdict %q", v)
	}
	if FactorText([]string{"hue"}, []int{3, 1}) != "hue 3, factor 1 1" {
		t.Fatal("FactorText wrong")
	}
}

func TestGrey(t *testing.T) {
	p := Pixels{W: 2, H: 1, RGBA: []byte{255, 0, 0, 255, 10, 10, 10, 7}}
	Grey(p)
	if string(p.RGBA) != string([]byte{76, 76, 76, 255, 10, 10, 10, 7}) {
		t.Fatalf("grey %v", p.RGBA)
	}
}
