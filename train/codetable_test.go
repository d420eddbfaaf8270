package train

import "testing"

// TestCodeTableRetrieve builds a table by hand: with 2 factors (4 actions),
// action 0 turns code 1 into 2, action 2 (factor 0, the other direction)
// turns 2 into 1, action 1 turns 1 into 3, action 3 keeps codes. Pairs
// drawn from each rule must be retrieved as that action.
func TestCodeTableRetrieve(t *testing.T) {
	tb := &codeTable{A: 4, K: 4, counts: make([]float64, 4*4*4), rows: make([]float64, 4*4)}
	rule := map[int][2]int32{0: {1, 2}, 1: {1, 3}, 2: {2, 1}, 3: {1, 1}}
	for a, r := range rule {
		for range 10 {
			// node 0 follows the rule, node 1 (code 0) never changes
			tb.add(a, []int32{r[0], 0}, []int32{r[1], 0})
		}
	}
	tb.finish()
	score := make([]float64, 4)
	for a, r := range rule {
		if best := tb.retrieve([]int32{r[0], 0}, []int32{r[1], 0}, score); best != a {
			t.Errorf("pair of action %d (%d -> %d): retrieved action %d (scores %v)", a, r[0], r[1], best, score)
		}
	}
	// unseen transitions keep finite scores (smoothing)
	tb.retrieve([]int32{3, 3}, []int32{0, 2}, score)
	for a, s := range score {
		if s != s || s > 0 || s < -100 {
			t.Errorf("unseen transition: action %d score %v, want finite and negative", a, s)
		}
	}
}
