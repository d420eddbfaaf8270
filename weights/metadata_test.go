package weights

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		name  string
		md    map[string]string
		ctvae bool
		err   string
	}{
		{"foreign, no metadata", nil, false, ""},
		{"foreign, other format", map[string]string{"format": "pt"}, false, ""},
		{"current", map[string]string{"format": "ctvae", "format_version": "1"}, true, ""},
		{"newer", map[string]string{"format": "ctvae", "format_version": "2"}, true, "ctvae format version 2 is newer than this program understands (1)"},
		{"no version", map[string]string{"format": "ctvae"}, true, `format "ctvae" without "format_version"`},
		{"zero", map[string]string{"format": "ctvae", "format_version": "0"}, true, `"format_version" = "0", want a positive integer`},
		{"leading zero", map[string]string{"format": "ctvae", "format_version": "01"}, true, "want a positive integer"},
		{"not a number", map[string]string{"format": "ctvae", "format_version": "1.0"}, true, "want a positive integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, err := (&File{Metadata: c.md}).CheckFormat()
			if ok != c.ctvae || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
				t.Errorf("CheckFormat = %v, %v; want %v and an error containing %q", ok, err, c.ctvae, c.err)
			}
		})
	}
	f := &File{}
	f.SetFormat()
	if ok, err := f.CheckFormat(); !ok || err != nil || f.Metadata["format_version"] != "1" {
		t.Errorf("after SetFormat: CheckFormat = %v, %v; metadata %q", ok, err, f.Metadata)
	}
}

type testConfig struct {
	InChannels int   `json:"in_channels"`
	HiddenDims []int `json:"hidden_dims"`
}

func TestMetadataHelpersRoundTrip(t *testing.T) {
	f := &File{Tensors: []*Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}}
	f.SetFormat()
	if err := f.SetConfig(testConfig{3, []int{128, 256}}); err != nil {
		t.Fatal(err)
	}
	f.SetDataset("shapes3d")
	if err := f.SetFactors([]string{"floor_hue", "scale"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetActions([]string{"floor_hue+", "scale+", "floor_hue-", "scale-"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetPreprocess(PreprocessOfficialPad42); err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(f, F32)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.CheckFormat(); !ok || err != nil {
		t.Errorf("CheckFormat = %v, %v", ok, err)
	}
	var cfg testConfig
	if err := g.Config(&cfg); err != nil || cfg.InChannels != 3 || !slices.Equal(cfg.HiddenDims, []int{128, 256}) {
		t.Errorf("Config = %+v, %v", cfg, err)
	}
	if d, err := g.Dataset(); d != "shapes3d" || err != nil {
		t.Errorf("Dataset = %q, %v", d, err)
	}
	if fs, err := g.Factors(); !slices.Equal(fs, []string{"floor_hue", "scale"}) || err != nil {
		t.Errorf("Factors = %q, %v", fs, err)
	}
	if as, err := g.Actions(); len(as) != 4 || as[1] != "scale+" || err != nil {
		t.Errorf("Actions = %q, %v", as, err)
	}
	if p, err := g.Preprocess(); p != PreprocessOfficialPad42 || err != nil {
		t.Errorf("Preprocess = %q, %v", p, err)
	}
}

func TestMetadataErrors(t *testing.T) {
	empty := &File{}
	var cfg testConfig
	for name, err := range map[string]error{
		"config":     empty.Config(&cfg),
		"dataset":    second(empty.Dataset()),
		"factors":    second(empty.Factors()),
		"actions":    second(empty.Actions()),
		"preprocess": second(empty.Preprocess()),
	} {
		if !errors.Is(err, ErrNoMetadata) || !strings.Contains(err.Error(), `metadata "`+name+`"`) {
			t.Errorf("%s on an empty file: error %v, want ErrNoMetadata naming the key", name, err)
		}
	}
	bad := func(md map[string]string) *File { return &File{Metadata: md} }
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"config unknown field", bad(map[string]string{"config": `{"in_channels":3,"img_size":64}`}).Config(&cfg), `unknown field "img_size"`},
		{"config trailing data", bad(map[string]string{"config": `{"in_channels":3} {}`}).Config(&cfg), "data after the JSON value"},
		{"config not JSON", bad(map[string]string{"config": `{`}).Config(&cfg), `metadata "config"`},
		{"factors not a list", second(bad(map[string]string{"factors": `"scale"`}).Factors()), `metadata "factors" = "\"scale\"", want a JSON list of strings`},
		{"factors null", second(bad(map[string]string{"factors": `null`}).Factors()), "want a JSON list of strings"},
		{"factors duplicate", second(bad(map[string]string{"factors": `["a","a"]`}).Factors()), `metadata "factors": duplicate name "a"`},
		{"actions empty name", second(bad(map[string]string{"actions": `["a+",""]`}).Actions()), `metadata "actions": name 1 is empty`},
		{"preprocess unknown", second(bad(map[string]string{"preprocess": "crop"}).Preprocess()), `metadata "preprocess": unknown value "crop"`},
		{"set preprocess unknown", (&File{}).SetPreprocess("crop"), `unknown value "crop"`},
		{"set factors duplicate", (&File{}).SetFactors([]string{"x", "x"}), `duplicate name "x"`},
		{"set config unmarshalable", (&File{}).SetConfig(func() {}), `metadata "config"`},
	} {
		if c.err == nil || !strings.HasPrefix(c.err.Error(), "weights: ") || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestChecksum(t *testing.T) {
	for in, want := range map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if got := Checksum([]byte(in)); got != want {
			t.Errorf("Checksum(%q) = %s, want %s", in, got, want)
		}
	}
}
