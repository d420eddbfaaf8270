package protocol

import (
	"reflect"
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	img := Input{Format: FormatF32, F32: []float32{0, 0.5, 1, 0.25}}
	codes := Input{Format: FormatCodes, Codes: []int32{3, 0, 7}}
	png := Input{Format: FormatImage, Encoded: []byte("\x89PNG...")}
	for _, r := range []Request{
		{ID: 1, Op: OpLoad, Weights: []byte{1, 2, 3}, Sampling: "sample", Seed: 9},
		{ID: 1, Op: OpLoad, Weights: []byte{1}, Sampling: "mode", SHA256: strings.Repeat("0a", 32)},
		{ID: 2, Op: OpInfo},
		{ID: 3, Op: OpReconstruct, Image: img, VQ: true},
		{ID: 4, Op: OpIntervene, Image: codes, Action: "scale+"},
		{ID: 5, Op: OpIntervene, Image: png, Action: "3"},
		{ID: 6, Op: OpTraverse, Image: img, Action: "0", Steps: 8},
		{ID: 7, Op: OpRetrieve, X: img, Y: png, Samples: 4},
		{ID: 8, Op: OpRetrieve, X: codes, Y: codes, Samples: 1},
		{ID: 9, Op: OpEncode, Image: png},
		{ID: 10, Op: OpDecode, Image: codes},
		{ID: 11, Op: OpCancel, Target: 7},
		{ID: 12, Op: OpCancel, Target: 0},
		{ID: 1<<53 - 1, Op: OpSample, Dataset: "dsprites", Seed: 3},
	} {
		head, bufs := EncodeRequest(r)
		got, err := DecodeRequest(head, bufs)
		if err != nil {
			t.Fatalf("%s: %v (head %s)", r.Op, err, head)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v\nhead %s", r.Op, got, r, head)
		}
	}
}

func TestDecodeRequestDefaults(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"id":5,"op":"load","weights":0}`), [][]byte{{1}})
	if err != nil || r.Sampling != "mode" || r.Seed != 0 || r.SHA256 != "" {
		t.Fatalf("load defaults: %+v, %v", r, err)
	}
	// A checksum in either case is kept in lower case; null is no checksum.
	r, err = DecodeRequest([]byte(`{"id":5,"op":"load","weights":0,"sha256":"`+strings.Repeat("aB", 32)+`"}`), [][]byte{{1}})
	if err != nil || r.SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("load with sha256: %+v, %v", r, err)
	}
	r, err = DecodeRequest([]byte(`{"id":5,"op":"load","weights":0,"sha256":null}`), [][]byte{{1}})
	if err != nil || r.SHA256 != "" {
		t.Fatalf("load with sha256 null: %+v, %v", r, err)
	}
	r, err = DecodeRequest([]byte(`{"id":6,"op":"retrieve","x":{"buf":0,"format":"f32"},"y":{"buf":1,"format":"f32"}}`), [][]byte{{0, 0, 0, 0}, {0, 0, 128, 63}})
	if err != nil || r.Samples != 1 || r.Y.F32[0] != 1 {
		t.Fatalf("retrieve defaults: %+v, %v", r, err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	f32 := []byte{0, 0, 0, 0}
	for _, c := range []struct {
		head   string
		bufs   [][]byte
		id     int64
		expect string
	}{
		{`not json`, nil, -1, "not a valid JSON object"},
		{`{"op":"info"}`, nil, -1, `integer "id"`},
		{`{"id":-3,"op":"info"}`, nil, -1, `integer "id"`},
		{`{"id":9007199254740992,"op":"info"}`, nil, -1, `integer "id"`},
		{`{"id":1.5,"op":"info"}`, nil, -1, "not a valid JSON object"},
		{`{"id":4}`, nil, 4, `no "op"`},
		{`{"id":4,"op":"explode"}`, nil, 4, `unknown op "explode"`},
		{`{"id":4,"op":"info","colour":1}`, nil, 4, `unknown field "colour"`},
		{`{"id":4,"op":"info"} {}`, nil, 4, "trailing data"},
		{`{"id":4,"op":"info","steps":3}`, nil, 4, `field "steps"`},
		{`{"id":5,"op":"load"}`, nil, 5, `needs "weights"`},
		{`{"id":5,"op":"load","weights":1}`, [][]byte{{1}}, 5, "names buffer 1, but the message has 1"},
		{`{"id":5,"op":"load","weights":0}`, [][]byte{{}}, 5, "is empty"},
		{`{"id":5,"op":"load","weights":0,"sha256":""}`, [][]byte{{1}}, 5, `"sha256" "" has 0 characters, want 64 hex digits`},
		{`{"id":5,"op":"load","weights":0,"sha256":"abc"}`, [][]byte{{1}}, 5, `has 3 characters, want 64 hex digits`},
		{`{"id":5,"op":"load","weights":0,"sha256":"` + strings.Repeat("g", 64) + `"}`, [][]byte{{1}}, 5, "is not hexadecimal"},
		{`{"id":5,"op":"load","weights":0,"sha256":"` + strings.Repeat("a", 65) + `"}`, [][]byte{{1}}, 5, "has 65 characters"},
		{`{"id":5,"op":"load","weights":0,"sha256":64}`, [][]byte{{1}}, 5, "not a valid JSON object"},
		{`{"id":5,"op":"info","sha256":"` + strings.Repeat("a", 64) + `"}`, nil, 5, `field "sha256"`},
		{`{"id":5,"op":"load","weights":0,"sampling":"random"}`, [][]byte{{1}}, 5, `sampling "random"`},
		{`{"id":6,"op":"reconstruct"}`, nil, 6, `needs "image"`},
		{`{"id":6,"op":"reconstruct","image":{"buf":0,"format":"codes"}}`, [][]byte{f32}, 6, `format "codes"`},
		{`{"id":6,"op":"reconstruct","image":{"buf":0,"format":"f32"}}`, [][]byte{{1, 2, 3}}, 6, "whole number of float32"},
		{`{"id":6,"op":"reconstruct","image":{"buf":0,"format":"f32"}}`, [][]byte{{0, 0, 192, 127}}, 6, "want finite values"},
		{`{"id":6,"op":"encode","image":{"buf":0,"format":"f32"},"vq":true}`, [][]byte{f32}, 6, `field "vq"`},
		{`{"id":7,"op":"intervene","image":{"buf":0,"format":"f32"}}`, [][]byte{f32}, 7, `needs "action"`},
		{`{"id":7,"op":"intervene","image":{"buf":0,"format":"f32"},"action":""}`, [][]byte{f32}, 7, `empty "action"`},
		{`{"id":7,"op":"intervene","image":{"buf":0,"format":"f32"},"action":[1]}`, [][]byte{f32}, 7, `"action" [1]`},
		{`{"id":8,"op":"traverse","image":{"buf":0,"format":"f32"},"action":1}`, [][]byte{f32}, 8, "steps 0, want 1..64"},
		{`{"id":8,"op":"traverse","image":{"buf":0,"format":"f32"},"action":1,"steps":65}`, [][]byte{f32}, 8, "steps 65"},
		{`{"id":8,"op":"traverse","image":{"buf":0,"format":"codes"},"action":1,"steps":2}`, [][]byte{f32}, 8, `format "codes"`},
		{`{"id":9,"op":"retrieve","x":{"buf":0,"format":"f32"}}`, [][]byte{f32}, 9, `needs "y"`},
		{`{"id":9,"op":"retrieve","x":{"buf":0,"format":"f32"},"y":{"buf":0,"format":"codes"}}`, [][]byte{f32}, 9, "mixes codes"},
		{`{"id":9,"op":"retrieve","x":{"buf":0,"format":"f32"},"y":{"buf":0,"format":"f32"},"samples":0}`, [][]byte{f32}, 9, "samples 0"},
		{`{"id":9,"op":"retrieve","x":{"buf":0,"format":"f32"},"y":{"buf":0,"format":"f32"},"sample":2}`, [][]byte{f32}, 9, `unknown field "sample"`},
		{`{"id":10,"op":"decode","image":{"buf":0,"format":"f32"}}`, [][]byte{f32}, 10, `format "f32"`},
		{`{"id":11,"op":"cancel"}`, nil, 11, `integer "target"`},
		{`{"id":12,"op":"sample","dataset":"` + strings.Repeat("d", 65) + `"}`, nil, 12, "short name"},
		{`{"id":13,"op":"info"}`, make([][]byte, MaxBuffers+1), -1, "buffers"},
		{`{"id":13,"op":"info","pad":"` + strings.Repeat(" ", MaxHeadBytes) + `"}`, nil, -1, "head of"},
	} {
		r, err := DecodeRequest([]byte(c.head), c.bufs)
		if err == nil || !strings.Contains(err.Error(), c.expect) {
			t.Errorf("%s: error %v, want one containing %q", c.head, err, c.expect)
			continue
		}
		if r.ID != c.id {
			t.Errorf("%s: id %d, want %d", c.head, r.ID, c.id)
		}
		if e := AsError(err); e.Code != CodeBadRequest {
			t.Errorf("%s: code %q, want %q", c.head, e.Code, CodeBadRequest)
		}
		if r.Op != "" || r.Weights != nil || r.Image.Format != "" {
			t.Errorf("%s: a refused request carries fields: %+v", c.head, r)
		}
	}
}

func TestMarshalHeadNonFinite(t *testing.T) {
	nan := float32(0)
	nan = nan / nan
	b := MarshalHead(Head{ID: 3, Type: TypeResult, Op: OpRetrieve, Retrieval: &Retrieval{Actions: []Scored{{P: nan}}}})
	if !strings.Contains(string(b), `"code":"internal"`) || !strings.Contains(string(b), `"id":3`) {
		t.Fatalf("non-finite head: %s", b)
	}
}

// FuzzDecodeRequest: any bytes give a request or an error, never a panic;
// an accepted request survives a round trip and holds no more payload than
// it was given.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"load","weights":0}`), []byte{1, 2}, []byte{}, uint8(1))
	f.Add([]byte(`{"id":1,"op":"load","weights":0,"sha256":"`+strings.Repeat("0F", 32)+`"}`), []byte{1, 2}, []byte{}, uint8(1))
	f.Add([]byte(`{"id":2,"op":"retrieve","x":{"buf":0,"format":"f32"},"y":{"buf":1,"format":"image"},"samples":3}`), []byte{0, 0, 0, 0}, []byte{9}, uint8(2))
	f.Add([]byte(`{"id":3,"op":"intervene","image":{"buf":1,"format":"codes"},"action":"scale+"}`), []byte{}, []byte{1, 0, 0, 0}, uint8(2))
	f.Add([]byte(`{"id":4,"op":"traverse","image":{"buf":0,"format":"f32"},"action":2,"steps":5}`), []byte{0, 0, 0, 0}, []byte{}, uint8(1))
	f.Add([]byte(`{"id":5,"op":"cancel","target":2}`), []byte{}, []byte{}, uint8(0))
	f.Add([]byte(`{"id":6,"op":"sample","dataset":"shapes3d","seed":4}`), []byte{}, []byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, head, b0, b1 []byte, n uint8) {
		bufs := [][]byte{b0, b1, b0, b1, b0}[:int(n)%6]
		total := len(b0) + len(b1)
		r, err := DecodeRequest(head, bufs)
		if err != nil {
			if AsError(err).Code != CodeBadRequest {
				t.Fatalf("decode error with code %q: %v", AsError(err).Code, err)
			}
			return
		}
		held := len(r.Weights) + len(r.Image.Encoded) + len(r.X.Encoded) + len(r.Y.Encoded) +
			4*(len(r.Image.F32)+len(r.X.F32)+len(r.Y.F32)+len(r.Image.Codes)+len(r.X.Codes)+len(r.Y.Codes))
		if held > 2*total {
			t.Fatalf("request holds %d payload bytes from %d given", held, total)
		}
		h2, b2 := EncodeRequest(r)
		r2, err := DecodeRequest(h2, b2)
		if err != nil {
			t.Fatalf("re-encoded request refused: %v (head %s)", err, h2)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", r, r2)
		}
	})
}
