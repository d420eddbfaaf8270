package serve

import (
	"path"
	"strings"
)

// HashHexLen is the number of lower-case hex digits of the SHA-256 prefix in a
// content-hashed file name: 64 bits, so collisions between versions of a site
// are not a practical concern.
const HashHexLen = 16

// HashedName inserts the first HashHexLen hex digits of sum (a hex SHA-256)
// before the last extension of name's base: "css/site.css" becomes
// "css/site.<hash>.css" and "LICENSE" becomes "LICENSE.<hash>". The builder
// names files with it and the server recognises the names with NameHash, so
// the two always agree.
func HashedName(name, sum string) string {
	if len(sum) < HashHexLen {
		panic("serve: HashedName needs a hex SHA-256")
	}
	h := sum[:HashHexLen]
	dir, base := path.Split(name)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		return dir + base[:i] + "." + h + base[i:]
	}
	return dir + base + "." + h
}

// NameHash returns the content hash in a name made by HashedName, and false
// for any other name.
func NameHash(name string) (string, bool) {
	parts := strings.Split(path.Base(name), ".")
	var h string
	switch {
	case len(parts) >= 3 && parts[0] != "":
		h = parts[len(parts)-2]
	case len(parts) == 2 && parts[0] != "":
		h = parts[1]
	default:
		return "", false
	}
	if !isHex(h) {
		return "", false
	}
	return h, true
}

func isHex(s string) bool {
	if len(s) != HashHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidName reports whether name (slash-separated, relative, no trailing
// slash) uses only the conservative alphabet dist/ file names are made of:
// segments of ASCII letters, digits, '.', '_' and '-' that do not start with a
// dot. The builder refuses other names and the server refuses other requests,
// so percent-encoding, backslashes, NUL, dot-segments and hidden files never
// reach the file system.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg[0] == '.' {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
			if !ok {
				return false
			}
		}
	}
	return true
}

// MaxNameLen bounds the length of a file name under dist/.
const MaxNameLen = 1024

// contentTypes is explicit rather than mime.TypeByExtension, which reads the
// host's mime tables and so differs between machines.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".safetensors": "application/octet-stream",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".svg":         "image/svg+xml",
	".ico":         "image/x-icon",
	".webp":        "image/webp",
	".woff2":       "font/woff2",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".map":         "application/json",
}

// ContentType returns the media type served for name, by extension;
// unknown extensions are application/octet-stream.
func ContentType(name string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}
