package state

import (
	"fmt"
	"strconv"
	"strings"
)

// PadRow is one factor of the action pad: its + and - actions (-1 when the
// model has no such action).
type PadRow struct {
	Factor      string
	Plus, Minus int
}

// Pad groups a model's action names into rows: "scale+" and "scale-" share
// the row "scale"; a name without a sign gets a row of its own, as Plus.
// Rows keep the order of first appearance.
func Pad(actions []string) []PadRow {
	var rows []PadRow
	at := map[string]int{}
	for a, name := range actions {
		base, sign := name, byte(0)
		if n := len(name); n > 1 && (name[n-1] == '+' || name[n-1] == '-') {
			base, sign = name[:n-1], name[n-1]
		}
		i, ok := at[base]
		if !ok || sign == 0 {
			i = len(rows)
			at[base] = i
			rows = append(rows, PadRow{Factor: base, Plus: -1, Minus: -1})
		}
		if sign == '-' {
			rows[i].Minus = a
		} else {
			rows[i].Plus = a
		}
	}
	return rows
}

// ParseSteps validates a traversal length typed by a person.
func ParseSteps(s string, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("steps must be a whole number from 1 to %d, not %q", max, s)
	}
	return n, nil
}
