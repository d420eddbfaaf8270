// Package state is the CT-VAE page's state and logic as plain Go: history
// and undo, the choice of model, input and retrieval pair, validation of
// what a person picks, and the mapping of results to pixels, colours and
// text. It does no I/O and knows nothing of the DOM, so it is tested
// natively; the vugu components (package ui) only render it.
package state
