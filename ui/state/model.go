package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"ctvae/wasm/protocol"
)

// manifestFormat is the dist/manifest.json layout written by build/.
const manifestFormat = "ctvae-dist/1"

// UntrainedLabel marks a model with random weights: it runs the whole
// pipeline but its images and answers mean nothing.
const UntrainedLabel = "untrained (random weights) — for testing the pipeline"

// ModelOption is a weights file the site ships.
type ModelOption struct {
	Name      string // logical name, "weights/shapes3d.safetensors"
	Path      string // URL path relative to the page (content-hashed)
	Size      int64
	SHA256    string
	Untrained bool
}

// Title is what the picker shows: the file's base name without extension,
// and the untrained label where it applies.
func (m ModelOption) Title() string {
	t := strings.TrimSuffix(path.Base(m.Name), ".safetensors")
	if m.Untrained {
		t += " — " + UntrainedLabel
	}
	return t
}

// ParseManifest lists the shipped weights of a manifest.json: the files
// under weights/ ending in .safetensors, trained models first, then by name.
// A file whose name says "untrained" or "random" holds random-init weights.
func ParseManifest(b []byte) ([]ModelOption, error) {
	var m struct {
		Format string `json:"format"`
		Files  map[string]struct {
			Path   string `json:"path"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest.json is not valid JSON: %v", err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("manifest.json has format %q, want %q", m.Format, manifestFormat)
	}
	var out []ModelOption
	for name, f := range m.Files {
		if !strings.HasPrefix(name, "weights/") || !strings.HasSuffix(name, ".safetensors") {
			continue
		}
		if f.Path == "" || len(f.SHA256) != 64 || f.Size <= 0 {
			return nil, fmt.Errorf("manifest.json: %s lacks a path, size or sha256", name)
		}
		base := strings.ToLower(path.Base(name))
		out = append(out, ModelOption{Name: name, Path: f.Path, Size: f.Size, SHA256: f.SHA256,
			Untrained: strings.Contains(base, "untrained") || strings.Contains(base, "random")})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Untrained != out[j].Untrained {
			return !out[i].Untrained
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// CheckWeightsFile vets a user's file before it is read in full and sent to
// the engine: a safetensors file starts with an 8-byte little-endian header
// length and a JSON header "{". head is the first bytes of the file (at
// least 9 when the file has them). The engine still checks everything else.
func CheckWeightsFile(name string, size int64, head []byte) error {
	if !strings.HasSuffix(strings.ToLower(name), ".safetensors") {
		return fmt.Errorf("%q is not a .safetensors file (convert PyTorch checkpoints with `ctvae convert`)", name)
	}
	if size > protocol.MaxWeightsBytes {
		return fmt.Errorf("%q is %s; the engine takes weights files up to %s", name, Bytes(size), Bytes(protocol.MaxWeightsBytes))
	}
	if size < 10 || len(head) < 9 {
		return fmt.Errorf("%q is %s: too short to be a safetensors file", name, Bytes(size))
	}
	n := binary.LittleEndian.Uint64(head[:8])
	if n == 0 || n > uint64(size-8) || head[8] != '{' {
		return fmt.Errorf("%q does not start like a safetensors file (header length %d in a file of %d bytes)", name, n, size)
	}
	return nil
}

// CheckImageFile vets an image a person picked: PNG or JPEG by its first
// bytes (the engine decodes only those), within the engine's size limit.
func CheckImageFile(name string, size int64, head []byte) error {
	if size == 0 {
		return fmt.Errorf("%q is empty", name)
	}
	if size > protocol.MaxImageBytes {
		return fmt.Errorf("%q is %s; images up to %s are accepted", name, Bytes(size), Bytes(protocol.MaxImageBytes))
	}
	png := len(head) >= 8 && string(head[:8]) == "\x89PNG\r\n\x1a\n"
	jpeg := len(head) >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff
	if !png && !jpeg {
		return fmt.Errorf("%q is not a PNG or JPEG image", name)
	}
	return nil
}
