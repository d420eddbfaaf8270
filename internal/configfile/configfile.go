// Package configfile reads model configs as users have them: our JSON, or the
// official repository's YAML experiment files (configs/ct_mcq_vae.yaml), whose
// model_params section holds the model config. The YAML reader accepts the
// subset those files use (nested maps by indentation, scalars, flow lists
// [a, b], block lists, comments) and rejects everything else with the line.
package configfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"ctvae/runtime/ctvae"
)

// MaxSize bounds a config file; real ones are under 2 KB.
const MaxSize = 1 << 20

// Parse reads a JSON or YAML config. For YAML, the model_params section is
// used when present (else the whole document); its "name" key (the model
// class, e.g. 'CTMCQVAE') is checked and dropped.
func Parse(b []byte) (ctvae.Config, error) {
	if len(b) > MaxSize {
		return ctvae.Config{}, fmt.Errorf("configfile: %d bytes, more than the %d accepted", len(b), MaxSize)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return ctvae.ParseConfig(b)
	}
	doc, err := ParseYAML(b)
	if err != nil {
		return ctvae.Config{}, err
	}
	params := doc
	if mp, ok := doc["model_params"]; ok {
		if params, ok = mp.(map[string]any); !ok {
			return ctvae.Config{}, fmt.Errorf("configfile: model_params is not a mapping")
		}
	}
	return FromParams(params)
}

// FromParams reads an official model_params mapping (from a YAML file or a
// checkpoint's hyper_parameters): "name" must be a VQ-VAE or CT-VAE class and
// is dropped; the rest is a strict config. params is not modified.
func FromParams(params map[string]any) (ctvae.Config, error) {
	p := make(map[string]any, len(params))
	for k, v := range params {
		p[k] = v
	}
	if name, ok := p["name"]; ok {
		switch name {
		case "VQVAE", "MCQVAE", "CTMCQVAE", "CTVAE":
		default:
			return ctvae.Config{}, fmt.Errorf("configfile: model_params name %v: not a VQ-VAE or CT-VAE config (want MCQVAE or CTMCQVAE)", name)
		}
		delete(p, "name")
	}
	j, err := json.Marshal(p)
	if err != nil {
		return ctvae.Config{}, fmt.Errorf("configfile: %w", err)
	}
	return ctvae.ParseConfig(j)
}

type line struct {
	num    int
	indent int
	text   string
}

// ParseYAML parses the YAML subset into nested map[string]any, []any,
// string, int64, float64, bool and nil values.
func ParseYAML(b []byte) (map[string]any, error) {
	var lines []line
	for i, raw := range strings.Split(string(b), "\n") {
		raw = strings.TrimRight(raw, "\r")
		if strings.ContainsRune(raw, '\t') {
			return nil, fmt.Errorf("configfile: line %d: tab character (YAML indents with spaces)", i+1)
		}
		text := stripComment(raw)
		if strings.TrimSpace(text) == "" || strings.TrimSpace(text) == "---" {
			continue
		}
		indent := len(text) - len(strings.TrimLeft(text, " "))
		lines = append(lines, line{i + 1, indent, strings.TrimSpace(text)})
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("configfile: empty config")
	}
	p := &parser{lines: lines}
	m, err := p.mapping(lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.lines) {
		return nil, fmt.Errorf("configfile: line %d: unexpected indentation", p.lines[p.pos].num)
	}
	return m, nil
}

// stripComment removes a # comment that is outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

type parser struct {
	lines []line
	pos   int
	depth int
}

const maxDepth = 32

func (p *parser) mapping(indent int) (map[string]any, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, fmt.Errorf("configfile: line %d: nesting deeper than %d", p.lines[p.pos].num, maxDepth)
	}
	defer func() { p.depth-- }()
	m := map[string]any{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("configfile: line %d: unexpected indentation", l.num)
		}
		key, rest, ok := strings.Cut(l.text, ":")
		if !ok || (rest != "" && rest[0] != ' ') {
			return nil, fmt.Errorf("configfile: line %d: want `key: value`, got %q", l.num, l.text)
		}
		key = strings.TrimSpace(key)
		if k, err := unquote(key); err == nil {
			key = k
		}
		if key == "" {
			return nil, fmt.Errorf("configfile: line %d: empty key", l.num)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("configfile: line %d: duplicate key %q", l.num, key)
		}
		rest = strings.TrimSpace(rest)
		p.pos++
		if rest != "" {
			v, err := scalarOrFlow(rest, l.num)
			if err != nil {
				return nil, err
			}
			m[key] = v
			continue
		}
		// A nested block, or an empty value.
		if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
			child := p.lines[p.pos]
			var v any
			var err error
			if strings.HasPrefix(child.text, "- ") || child.text == "-" {
				v, err = p.sequence(child.indent)
			} else {
				v, err = p.mapping(child.indent)
			}
			if err != nil {
				return nil, err
			}
			m[key] = v
		} else if p.pos < len(p.lines) && p.lines[p.pos].indent == indent && strings.HasPrefix(p.lines[p.pos].text, "- ") {
			v, err := p.sequence(indent)
			if err != nil {
				return nil, err
			}
			m[key] = v
		} else {
			m[key] = nil
		}
	}
	return m, nil
}

func (p *parser) sequence(indent int) ([]any, error) {
	var out []any
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent != indent || !(strings.HasPrefix(l.text, "- ") || l.text == "-") {
			break
		}
		item := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if item == "" || strings.Contains(item, ": ") || strings.HasSuffix(item, ":") {
			return nil, fmt.Errorf("configfile: line %d: only scalar list items are supported", l.num)
		}
		v, err := scalarOrFlow(item, l.num)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.pos++
	}
	return out, nil
}

func scalarOrFlow(s string, num int) (any, error) {
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("configfile: line %d: unterminated list %q", num, s)
		}
		inner := strings.TrimSpace(s[1 : len(s)-1])
		out := []any{}
		if inner == "" {
			return out, nil
		}
		for _, item := range splitFlow(inner) {
			item = strings.TrimSpace(item)
			if item == "" || strings.ContainsAny(item, "[]{}") {
				return nil, fmt.Errorf("configfile: line %d: unsupported list item %q", num, item)
			}
			v, err := scalar(item, num)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "&") || strings.HasPrefix(s, "*") || strings.HasPrefix(s, "!") || strings.HasPrefix(s, "|") || strings.HasPrefix(s, ">") {
		return nil, fmt.Errorf("configfile: line %d: unsupported YAML value %q (flow maps, anchors, tags and block scalars are not accepted)", num, s)
	}
	return scalar(s, num)
}

// splitFlow splits a flow list body at commas outside quotes.
func splitFlow(s string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func unquote(s string) (string, error) {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strconv.Unquote(s)
	}
	return "", fmt.Errorf("not quoted")
}

func scalar(s string, num int) (any, error) {
	if s[0] == '\'' || s[0] == '"' {
		v, err := unquote(s)
		if err != nil {
			return nil, fmt.Errorf("configfile: line %d: bad quoted string %s", num, s)
		}
		return v, nil
	}
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	case "null", "Null", "NULL", "~":
		return nil, nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_") {
		return f, nil
	}
	return s, nil
}
