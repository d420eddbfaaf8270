package serve

import (
	"strconv"
	"strings"
)

// encoding is a precompressed variant: dist/X.<suffix> holds X compressed
// with the content-coding token.
type encoding struct {
	token  string // Content-Encoding value
	suffix string // file name suffix
}

// encodings in order of preference when the client weighs them equally.
var encodings = []encoding{
	{"br", ".br"},
	{"gzip", ".gz"},
}

// acceptWeights parses an Accept-Encoding header (RFC 9110 12.5.3) into the
// q-value of each of our encodings. A coding the header does not name gets
// the q of "*" when present, else 0; "q=0" means "not acceptable". Malformed
// entries are ignored rather than guessed at.
func acceptWeights(header string) [2]float64 {
	var q [2]float64
	explicit := [2]bool{}
	star, haveStar := 0.0, false
	for _, entry := range strings.Split(header, ",") {
		token, params, _ := strings.Cut(entry, ";")
		token = strings.ToLower(strings.TrimSpace(token))
		if token == "" {
			continue
		}
		w, ok := qValue(params)
		if !ok {
			continue
		}
		if token == "x-gzip" {
			token = "gzip"
		}
		if token == "*" {
			star, haveStar = w, true
			continue
		}
		for i, e := range encodings {
			if token == e.token {
				q[i], explicit[i] = w, true
			}
		}
	}
	for i := range q {
		if !explicit[i] && haveStar {
			q[i] = star
		}
	}
	return q
}

// qValue reads the weight from an entry's parameters ("q=0.5", possibly with
// other parameters); no q parameter means 1.
func qValue(params string) (float64, bool) {
	if strings.TrimSpace(params) == "" {
		return 1, true
	}
	w := 1.0
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 || len(strings.TrimSpace(v)) > 5 {
			return 0, false
		}
		w = f
	}
	return w, true
}
