package tensor

import "testing"

func TestNewFromDataClone(t *testing.T) {
	x := New(2, 3)
	if x.Len() != 6 || !SameShape(x.Shape, []int{2, 3}) {
		t.Fatalf("New(2,3): %v, %d values", x.Shape, x.Len())
	}
	y := x.Clone()
	y.Data[0], y.Shape[0] = 1, 9
	if x.Data[0] != 0 || x.Shape[0] != 2 {
		t.Error("Clone shares storage or shape")
	}
	if Numel(nil) != 1 || Numel([]int{4, 0}) != 0 {
		t.Error("Numel of scalar or empty shape")
	}
	defer func() {
		if recover() == nil {
			t.Error("FromData accepted a length mismatch")
		}
	}()
	FromData(make([]float32, 5), 2, 3)
}
