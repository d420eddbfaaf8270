package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Metadata keys and values of a ctvae weight file. A file describes itself:
// the runtime needs nothing but the file to rebuild and run the model.
const (
	// KeyFormat = FormatName marks a ctvae file. A file without it (or with
	// another value, such as "pt" from other tools) is a foreign safetensors
	// file: golden data or a converted checkpoint.
	KeyFormat  = "format"
	FormatName = "ctvae"
	// KeyFormatVersion is a positive decimal integer, at most FormatVersion.
	KeyFormatVersion = "format_version"
	// KeyConfig holds the model config as JSON.
	KeyConfig = "config"
	// KeyDataset names the training data set, e.g. "shapes3d".
	KeyDataset = "dataset"
	// KeyFactors holds the factor names as a JSON list of strings.
	KeyFactors = "factors"
	// KeyActions holds the action names as a JSON list, e.g. "scale+".
	KeyActions = "actions"
	// KeyPreprocess names the input preprocessing the model expects.
	KeyPreprocess = "preprocess"
)

// FormatVersion is the newest ctvae format version this package reads and
// the one SetFormat writes.
const FormatVersion = 1

// Preprocessing values of KeyPreprocess.
const (
	// PreprocessNone feeds images as they are (this project's training).
	PreprocessNone = "none"
	// PreprocessOfficialPad42 pads 42 px of zeros on each side and resizes
	// bilinearly back to 64x64, as the official data module does
	// (CenterCrop(148) then Resize(64)); official checkpoints need it.
	PreprocessOfficialPad42 = "official-pad42"
)

// ErrNoMetadata is wrapped by the getters when their key is absent, so that
// callers can tell "absent" from "malformed" with errors.Is.
var ErrNoMetadata = errors.New("metadata key absent")

// SetFormat marks f as a ctvae file of the current FormatVersion.
func (f *File) SetFormat() {
	f.set(KeyFormat, FormatName)
	f.set(KeyFormatVersion, strconv.Itoa(FormatVersion))
}

// CheckFormat reports whether f claims to be a ctvae file. A claim with a
// missing, malformed or newer version is an error; a file that makes no claim
// is accepted as foreign (ctvae = false, err = nil).
func (f *File) CheckFormat() (ctvae bool, err error) {
	if f.Metadata[KeyFormat] != FormatName {
		return false, nil
	}
	s, ok := f.Metadata[KeyFormatVersion]
	if !ok {
		return true, fmt.Errorf("weights: metadata: format %q without %q", FormatName, KeyFormatVersion)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || strconv.Itoa(v) != s {
		return true, fmt.Errorf("weights: metadata: %q = %q, want a positive integer", KeyFormatVersion, s)
	}
	if v > FormatVersion {
		return true, fmt.Errorf("weights: metadata: %s format version %d is newer than this program understands (%d); update the program", FormatName, v, FormatVersion)
	}
	return true, nil
}

// SetConfig stores v, marshalled as JSON, under KeyConfig.
func (f *File) SetConfig(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("weights: metadata %q: %w", KeyConfig, err)
	}
	f.set(KeyConfig, string(b))
	return nil
}

// Config decodes KeyConfig into v strictly: an unknown field or trailing data
// is an error, because a config this program does not fully understand
// cannot be run faithfully.
func (f *File) Config(v any) error {
	s, err := f.get(KeyConfig)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("weights: metadata %q: %w", KeyConfig, err)
	}
	if dec.More() {
		return fmt.Errorf("weights: metadata %q: data after the JSON value", KeyConfig)
	}
	return nil
}

// SetDataset stores the data set name.
func (f *File) SetDataset(name string) { f.set(KeyDataset, name) }

// Dataset returns the data set name.
func (f *File) Dataset() (string, error) { return f.get(KeyDataset) }

// SetFactors stores the factor names; they must be non-empty and distinct.
func (f *File) SetFactors(names []string) error { return f.setNames(KeyFactors, names) }

// Factors returns the factor names.
func (f *File) Factors() ([]string, error) { return f.names(KeyFactors) }

// SetActions stores the action names; they must be non-empty and distinct.
func (f *File) SetActions(names []string) error { return f.setNames(KeyActions, names) }

// Actions returns the action names.
func (f *File) Actions() ([]string, error) { return f.names(KeyActions) }

// SetPreprocess stores the preprocessing name, one of the Preprocess values.
func (f *File) SetPreprocess(p string) error {
	if err := checkPreprocess(p); err != nil {
		return err
	}
	f.set(KeyPreprocess, p)
	return nil
}

// Preprocess returns the preprocessing name, one of the Preprocess values.
func (f *File) Preprocess() (string, error) {
	p, err := f.get(KeyPreprocess)
	if err != nil {
		return "", err
	}
	return p, checkPreprocess(p)
}

func checkPreprocess(p string) error {
	if p != PreprocessNone && p != PreprocessOfficialPad42 {
		return fmt.Errorf("weights: metadata %q: unknown value %q (want %q or %q)", KeyPreprocess, p, PreprocessNone, PreprocessOfficialPad42)
	}
	return nil
}

func (f *File) set(key, value string) {
	if f.Metadata == nil {
		f.Metadata = map[string]string{}
	}
	f.Metadata[key] = value
}

func (f *File) get(key string) (string, error) {
	s, ok := f.Metadata[key]
	if !ok {
		return "", fmt.Errorf("weights: metadata %q: %w", key, ErrNoMetadata)
	}
	return s, nil
}

func (f *File) setNames(key string, names []string) error {
	if err := checkNames(key, names); err != nil {
		return err
	}
	b, err := json.Marshal(names)
	if err != nil {
		panic("weights: marshalling a string slice failed: " + err.Error())
	}
	f.set(key, string(b))
	return nil
}

func (f *File) names(key string) ([]string, error) {
	s, err := f.get(key)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal([]byte(s), &names); err != nil || names == nil {
		return nil, fmt.Errorf("weights: metadata %q = %.80q, want a JSON list of strings", key, s)
	}
	return names, checkNames(key, names)
}

func checkNames(key string, names []string) error {
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("weights: metadata %q: name %d is empty", key, i)
		}
		if seen[n] {
			return fmt.Errorf("weights: metadata %q: duplicate name %q", key, n)
		}
		seen[n] = true
	}
	return nil
}

// Checksum returns the hex SHA-256 of a file's bytes, as listed in manifests
// and shown by `ctvae info`.
func Checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
