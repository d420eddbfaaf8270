package data

import (
	"fmt"
	"math"
	"math/bits"
)

// ===== seeded randomness =====

// rng is SplitMix64: tiny, fast, and its stream is fixed by this file, so a
// seed gives the same data natively, under wasm and across Go releases.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a uniform int in [0, n), n > 0 (Lemire's method, unbiased).
func (r *rng) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.next(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), un)
		}
	}
	return int(hi)
}

// float64 returns a uniform value in [0, 1).
func (r *rng) float64() float64 { return float64(r.next()>>11) / (1 << 53) }

// ===== seeded permutation =====

// permutation is a pseudo-random bijection of [0, n) that needs no table: a
// balanced Feistel network on the smallest even number of bits covering n,
// with cycle-walking back into range (fewer than 4 rounds of walking on
// average, since the bit domain is less than 4n).
type permutation struct {
	n    int
	half uint // bits per Feistel half
	keys [6]uint64
}

func newPermutation(n int, seed uint64) permutation {
	p := permutation{n: n}
	for p.half = 1; 1<<(2*p.half) < n; p.half++ {
	}
	r := newRNG(seed)
	for i := range p.keys {
		p.keys[i] = r.next()
	}
	return p
}

func (p *permutation) round(x uint64, key uint64) uint64 {
	return mix64(x^key) & (1<<p.half - 1)
}

// forward maps x in [0, n) to its position in the shuffled order.
func (p *permutation) forward(x int) int {
	mask := uint64(1)<<p.half - 1
	v := uint64(x)
	for {
		l, r := v>>p.half, v&mask
		for _, k := range p.keys {
			l, r = r, l^p.round(r, k)
		}
		v = l<<p.half | r
		if v < uint64(p.n) {
			return int(v)
		}
	}
}

// inverse maps a position back to the element there: inverse(forward(x)) == x.
func (p *permutation) inverse(y int) int {
	mask := uint64(1)<<p.half - 1
	v := uint64(y)
	for {
		l, r := v>>p.half, v&mask
		for i := len(p.keys) - 1; i >= 0; i-- {
			l, r = r^p.round(l, p.keys[i]), l
		}
		v = l<<p.half | r
		if v < uint64(p.n) {
			return int(v)
		}
	}
}

// ===== image splits =====

// Split names a part of the image set.
type Split int

const (
	Train Split = iota
	Val
	Test
	numSplits
)

var splitNames = [numSplits]string{"train", "val", "test"}

func (s Split) String() string {
	if s < 0 || s >= numSplits {
		return fmt.Sprintf("Split(%d)", int(s))
	}
	return splitNames[s]
}

// ParseSplit accepts "train", "val" or "test".
func ParseSplit(name string) (Split, error) {
	for i, n := range splitNames {
		if n == name {
			return Split(i), nil
		}
	}
	return 0, fmt.Errorf("data: unknown split %q (want train, val or test)", name)
}

// DefaultSplitSeed is the seed of the paper's split.
const DefaultSplitSeed = 42

// Splits assigns every image index to train, val or test with exact
// proportions, without any per-index table: image i sits at position
// perm(i) of a seeded pseudo-random permutation, and positions
// [0, nTrain) are train, the next nVal val, the rest test. Membership and
// "the k-th image of a split" are both O(1), so the browser can sample a
// split of 737,280 images without allocating anything.
type Splits struct {
	perm permutation
	end  [numSplits]int // exclusive end position of each split
}

// NewSplits splits n images 70/15/15 with the given seed.
func NewSplits(n int, seed uint64) (*Splits, error) {
	return NewSplitsFrac(n, seed, 0.70, 0.15)
}

// NewSplitsFrac splits n images into round(train*n), round(val*n) and the
// rest as test.
func NewSplitsFrac(n int, seed uint64, train, val float64) (*Splits, error) {
	if n <= 0 {
		return nil, fmt.Errorf("data: split of %d images, want at least 1", n)
	}
	if !(train >= 0 && val >= 0 && train+val <= 1) {
		return nil, fmt.Errorf("data: split fractions train %v, val %v: want both >= 0 with sum <= 1", train, val)
	}
	nTrain := int(math.Round(train * float64(n)))
	nVal := min(int(math.Round(val*float64(n))), n-nTrain)
	return &Splits{perm: newPermutation(n, seed), end: [numSplits]int{nTrain, nTrain + nVal, n}}, nil
}

// Of returns the split of image index.
func (s *Splits) Of(index int) (Split, error) {
	if index < 0 || index >= s.perm.n {
		return 0, fmt.Errorf("data: image index %d out of range [0, %d) of the split", index, s.perm.n)
	}
	return s.of(index), nil
}

// of is Of for an index known to be in range.
func (s *Splits) of(index int) Split {
	p := s.perm.forward(index)
	switch {
	case p < s.end[Train]:
		return Train
	case p < s.end[Val]:
		return Val
	default:
		return Test
	}
}

// N is the number of images split.
func (s *Splits) N() int { return s.perm.n }

// Len returns the number of images in split sp (0 for an unknown split).
func (s *Splits) Len(sp Split) int {
	if sp < 0 || sp >= numSplits {
		return 0
	}
	return s.end[sp] - s.start(sp)
}

func (s *Splits) start(sp Split) int {
	if sp == Train {
		return 0
	}
	return s.end[sp-1]
}

// At returns the k-th image index of split sp, k in [0, Len(sp)); the order
// is the seeded shuffle, so At(sp, 0..m-1) is a random sample of sp.
func (s *Splits) At(sp Split, k int) (int, error) {
	if sp < 0 || sp >= numSplits {
		return 0, fmt.Errorf("data: unknown split %d", int(sp))
	}
	if k < 0 || k >= s.Len(sp) {
		return 0, fmt.Errorf("data: image %d of split %s out of range [0, %d)", k, sp, s.Len(sp))
	}
	return s.perm.inverse(s.start(sp) + k), nil
}

// Sample returns n distinct images of split sp, drawn at random with seed.
func (s *Splits) Sample(sp Split, n int, seed uint64) ([]int, error) {
	if sp < 0 || sp >= numSplits {
		return nil, fmt.Errorf("data: unknown split %d", int(sp))
	}
	if n < 0 || n > s.Len(sp) {
		return nil, fmt.Errorf("data: sample of %d images from split %s, want [0, %d]", n, sp, s.Len(sp))
	}
	// Positions within the split are drawn without replacement; the split's
	// shuffled order maps them to images.
	r := newRNG(seed)
	chosen := make(map[int]struct{}, n)
	out := make([]int, 0, n)
	for len(out) < n {
		k := r.intn(s.Len(sp))
		if _, dup := chosen[k]; dup {
			continue
		}
		chosen[k] = struct{}{}
		out = append(out, s.perm.inverse(s.start(sp)+k))
	}
	return out, nil
}
