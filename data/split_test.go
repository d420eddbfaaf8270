package data

import (
	"slices"
	"strings"
	"testing"
)

func TestPermutationIsABijection(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 17, 1000, 4097, 65536} {
		p := newPermutation(n, 9)
		seen := make([]bool, n)
		for x := range n {
			y := p.forward(x)
			if y < 0 || y >= n || seen[y] {
				t.Fatalf("n=%d: forward(%d) = %d repeats or leaves the range", n, x, y)
			}
			seen[y] = true
			if back := p.inverse(y); back != x {
				t.Fatalf("n=%d: inverse(forward(%d)) = %d", n, x, back)
			}
		}
	}
}

func TestSplitsExactProportionsAndDisjoint(t *testing.T) {
	for _, tc := range []struct{ n, train, val, test int }{
		{737280, 516096, 110592, 110592},
		{480000, 336000, 72000, 72000},
		{1001, 701, 150, 150},
	} {
		s, err := NewSplits(tc.n, DefaultSplitSeed)
		if err != nil {
			t.Fatal(err)
		}
		if s.Len(Train) != tc.train || s.Len(Val) != tc.val || s.Len(Test) != tc.test {
			t.Fatalf("n=%d: sizes %d/%d/%d, want %d/%d/%d", tc.n, s.Len(Train), s.Len(Val), s.Len(Test), tc.train, tc.val, tc.test)
		}
		// Membership counted over every index agrees with the sizes, and
		// enumerating each split visits each of its images exactly once.
		var count [numSplits]int
		for i := range tc.n {
			count[s.of(i)]++
		}
		seen := make([]bool, tc.n)
		for sp := Train; sp < numSplits; sp++ {
			if count[sp] != s.Len(sp) {
				t.Fatalf("n=%d: %d images map to %s, want %d", tc.n, count[sp], sp, s.Len(sp))
			}
			for k := range s.Len(sp) {
				i, err := s.At(sp, k)
				if err != nil {
					t.Fatal(err)
				}
				if seen[i] || s.of(i) != sp {
					t.Fatalf("n=%d: At(%s, %d) = %d, seen before or in split %s", tc.n, sp, k, i, s.of(i))
				}
				seen[i] = true
			}
		}
	}
}

func TestSplitsDependOnlyOnTheSeed(t *testing.T) {
	a, _ := NewSplits(10000, 42)
	b, _ := NewSplits(10000, 42)
	c, _ := NewSplits(10000, 43)
	differ := 0
	for i := range 10000 {
		if a.of(i) != b.of(i) {
			t.Fatalf("seed 42 twice: image %d in %s and %s", i, a.of(i), b.of(i))
		}
		if a.of(i) != c.of(i) {
			differ++
		}
	}
	// Independent 70/15/15 assignments disagree on 1 - (.49+.0225+.0225) = 46.5%.
	if differ < 4300 || differ > 5000 {
		t.Fatalf("seeds 42 and 43 disagree on %d of 10000 images, want about 4650", differ)
	}
	// The split is not the identity: the first 70% are not all train.
	train := 0
	for i := range 7000 {
		if a.of(i) == Train {
			train++
		}
	}
	if train > 5200 {
		t.Fatalf("%d of the first 7000 indices are train, want about 4900", train)
	}
}

func TestSplitBadInputs(t *testing.T) {
	s, _ := NewSplits(100, 1)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(NewSplits(0, 1)), "split of 0 images"},
		{second(NewSplitsFrac(10, 1, 0.9, 0.2)), "sum <= 1"},
		{second(NewSplitsFrac(10, 1, -0.1, 0.2)), "train -0.1"},
		{second(s.Of(100)), "index 100 out of range [0, 100)"},
		{second(s.At(Test, 15)), "image 15 of split test out of range [0, 15)"},
		{second(s.At(Split(7), 0)), "unknown split 7"},
		{second(ParseSplit("validation")), `unknown split "validation" (want train, val or test)`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", tc.err, tc.want)
		}
	}
	if sp, err := ParseSplit("val"); err != nil || sp != Val || sp.String() != "val" {
		t.Errorf("ParseSplit(val) = %v, %v", sp, err)
	}
}

func TestSplitSample(t *testing.T) {
	s, _ := NewSplits(1000, 3)
	got, err := s.Sample(Val, 150, 9)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, i := range got {
		if seen[i] || s.of(i) != Val {
			t.Fatalf("sample repeats %d or leaves the split (%s)", i, s.of(i))
		}
		seen[i] = true
	}
	again, _ := s.Sample(Val, 150, 9)
	if !slices.Equal(got, again) {
		t.Fatal("same seed, different sample")
	}
	if _, err := s.Sample(Val, 151, 9); err == nil || !strings.Contains(err.Error(), "sample of 151 images from split val, want [0, 150]") {
		t.Fatalf("oversized sample: error %v", err)
	}
}
