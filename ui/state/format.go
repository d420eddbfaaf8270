package state

import (
	"fmt"
	"math"
)

// Percent formats a probability for a bar label: one decimal, with the
// ends said plainly so that a rounded "100.0 %" never hides an alternative.
func Percent(p float32) string {
	switch {
	case math.IsNaN(float64(p)):
		return "n/a"
	case p <= 0:
		return "0 %"
	case p < 0.001:
		return "< 0.1 %"
	case p >= 1:
		return "100 %"
	case p > 0.999:
		return "> 99.9 %"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(p))
}

// Bytes formats a size in bytes with binary prefixes.
func Bytes(n int64) string {
	switch {
	case n < 0:
		return "unknown size"
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	case n < 1024*1024*1024:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1024*1024*1024))
}

// Millis formats a duration in milliseconds: whole ms from 10 ms up,
// one decimal below, seconds from 10 s.
func Millis(ms float64) string {
	switch {
	case math.IsNaN(ms) || ms < 0:
		return "n/a"
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

// Fraction is done/total in [0,1] for a progress bar; 0 when total is
// unknown.
func Fraction(done, total int64) float64 {
	if total <= 0 || done <= 0 {
		return 0
	}
	if done >= total {
		return 1
	}
	return float64(done) / float64(total)
}
