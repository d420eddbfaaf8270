package curves

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"strings"
	"testing"
)

func causalLog(first, n int) string {
	var b strings.Builder
	b.WriteString("step,epoch,lr,mode,total,recon,vq,ce,accuracy,codes_used,seconds\n")
	modes := []string{"base", "action", "causal"}
	for i := range n {
		s := first + i
		fmt.Fprintf(&b, "%d,0,0.001,%s,%g,0,0,%g,%g,0,%d\n", s, modes[s%3], 3/float64(s), 2/float64(s), float64(s%5)/5, s)
	}
	return b.String()
}

func TestReadConcatPNG(t *testing.T) {
	a, err := Read(strings.NewReader(causalLog(1, 300)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(strings.NewReader(causalLog(301, 100))) // a resumed run
	if err != nil {
		t.Fatal(err)
	}
	c, err := Read(strings.NewReader(causalLog(1, 50))) // a run started from a's weights
	if err != nil {
		t.Fatal(err)
	}
	all := Concat(a, b, c)
	if len(all) != 450 || all[299].Step != 300 || all[300].Step != 301 || all[400].Step != 401 || all[449].Step != 450 {
		t.Fatalf("concat steps: %d rows, %d %d %d %d", len(all), all[299].Step, all[300].Step, all[400].Step, all[449].Step)
	}
	if all[1].Mode != "causal" || all[1].Accuracy != 0.4 || all[1].CE != 1 {
		t.Fatalf("row 2: %+v", all[1])
	}
	img, err := PNG(all, "test", 20)
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if r := m.Bounds(); r.Dx() < 300 || r.Dy() < 300 {
		t.Fatalf("image %v too small", r)
	}
}

func TestReadOldVQLog(t *testing.T) {
	rows, err := Read(strings.NewReader("step,epoch,lr,total,recon,vq,codes_used,seconds\n1,0,0.001,0.05,0.049,2e-06,62,6.4\n2,0,0.001,0.04,0.039,2e-06,63,7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Recon != 0.039 || rows[1].CodesUsed != 63 || !math.IsNaN(rows[1].CE) || rows[0].Mode != "" {
		t.Fatalf("rows %+v", rows)
	}
	if _, err := PNG(rows, "vq", 5); err != nil {
		t.Fatal(err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "header"},
		{"a,b\n1,2\n", `no "step" column`},
		{"step,total\n", "no steps"},
		{"step,total\n1,x\n", "line 2, column total"},
		{"step,total\n-1,2\n", "line 2, column step"},
		{"step,total\n1,2,3\n", "line 2 has 3 fields"},
		{"step,total\n1,\"2\n", "line 2"},
	} {
		_, err := Read(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.in, err, c.want)
		}
	}
	if _, err := PNG(nil, "x", 1); err == nil {
		t.Error("empty log plotted")
	}
}
