package state

import "sync/atomic"

var version atomic.Uint64

// NextVersion is a number no earlier call returned: it names one image's
// content, so the page redraws a canvas only when what it shows changed.
func NextVersion() uint64 { return version.Add(1) }
