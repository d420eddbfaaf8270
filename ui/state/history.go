package state

// A Step is one state of the image being edited: the reconstruction of the
// chosen input (step 0), or the result of applying an action to the step
// before it.
type Step struct {
	Label  string    // what produced it: "reconstruction", "scale+"
	Action int       // the action applied, -1 for the reconstruction
	Image  []float32 // [C, S, S]
	Codes  []int32   // [n] codes after the step
	Input  []int32   // [n] codes before the step (the causal layer's input)
	Mask   []float32 // [n] intervention mask, 0/1 (nil: VQ-only model)
	Adj    []float32 // [n, n] adjacency (nil: VQ-only model)
	MS     float64   // the engine's time for the step
	Ver    uint64    // NextVersion when it was made: names Image and Adj for redraws
}

// Changed lists the nodes whose code differs from the step's input.
func (s *Step) Changed() []bool {
	ch := make([]bool, len(s.Codes))
	if len(s.Input) != len(s.Codes) {
		return ch
	}
	for i := range s.Codes {
		ch[i] = s.Codes[i] != s.Input[i]
	}
	return ch
}

// History is the chain of steps from the reconstruction of an input. Undo
// drops the last step; Reset goes back to the reconstruction; the first
// step is never dropped, so there is always a current image once started.
type History struct {
	steps []Step
}

// Start replaces the history with a new first step.
func (h *History) Start(s Step) { h.steps = []Step{s} }

// Clear forgets everything (a new model makes old codes meaningless).
func (h *History) Clear() { h.steps = nil }

// Push appends the result of an action; without a first step it does nothing
// and reports false.
func (h *History) Push(s Step) bool {
	if len(h.steps) == 0 {
		return false
	}
	h.steps = append(h.steps, s)
	return true
}

// Current is the last step, or nil before Start.
func (h *History) Current() *Step {
	if len(h.steps) == 0 {
		return nil
	}
	return &h.steps[len(h.steps)-1]
}

// Previous is the step before the current one, or nil.
func (h *History) Previous() *Step {
	if len(h.steps) < 2 {
		return nil
	}
	return &h.steps[len(h.steps)-2]
}

// Len is the number of steps.
func (h *History) Len() int { return len(h.steps) }

// CanUndo reports whether there is an action to undo.
func (h *History) CanUndo() bool { return len(h.steps) > 1 }

// Undo drops the last action's step; false when there is none.
func (h *History) Undo() bool {
	if !h.CanUndo() {
		return false
	}
	h.steps = h.steps[:len(h.steps)-1]
	return true
}

// Reset keeps only the reconstruction; false when there was nothing to drop.
func (h *History) Reset() bool {
	if !h.CanUndo() {
		return false
	}
	h.steps = h.steps[:1]
	return true
}

// Path is the labels of the actions applied so far, in order.
func (h *History) Path() []string {
	var p []string
	for _, s := range h.steps[min(1, len(h.steps)):] {
		p = append(p, s.Label)
	}
	return p
}
