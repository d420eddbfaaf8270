//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"

	"ctvae/ui"
)

// listenFiles wires file inputs (data-file="slot"), drop zones
// (data-drop="slot"), the action pad (data-action="index") and hovering
// the code grid with
// listeners on the document, so they keep working however vugu re-renders
// the elements. Slots: weights, input, y.
func (p *platform) listenFiles(env vugu.EventEnv, root *ui.Root) error {
	deliver := func(slot string, file safejs.Value) {
		go func() {
			name, data, err := readFile(file)
			if err != nil {
				env.Lock()
				root.FileError(slot, err)
				env.UnlockRender()
				return
			}
			switch slot {
			case "weights":
				root.LoadOwnFile(name, data)
			case "input":
				root.UploadInput(name, data)
			case "y":
				root.UploadY(name, data)
			}
		}()
	}
	slotOf := func(ev safejs.Value, attr string) (safejs.Value, string) {
		t, err := ev.Get("target")
		if err != nil || t.IsNull() || t.IsUndefined() {
			return safejs.Value{}, ""
		}
		if f, _ := t.Get("closest"); f.Type() != safejs.TypeFunction {
			return safejs.Value{}, "" // a text node
		}
		el, err := t.Call("closest", "["+attr+"]")
		if err != nil || el.IsNull() {
			return safejs.Value{}, ""
		}
		v, err := el.Call("getAttribute", attr)
		if err != nil {
			return safejs.Value{}, ""
		}
		s, _ := v.String()
		return el, s
	}
	on := func(event string, f func(ev safejs.Value)) error {
		fn, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			if len(args) > 0 {
				f(args[0])
			}
			return nil
		})
		if err != nil {
			return err
		}
		p.listeners = append(p.listeners, fn)
		_, err = p.doc.Call("addEventListener", event, fn.Value())
		return err
	}
	// The action pad (buttons with data-action) is handled here rather
	// than by vugu, which would render the whole page for the click.
	if err := on("click", func(ev safejs.Value) {
		el, v := slotOf(ev, "data-action")
		if v == "" {
			return
		}
		if d, _ := el.Get("disabled"); truthy(d) {
			return
		}
		if a, err := strconv.Atoi(v); err == nil {
			go root.ApplyAction(a)
		}
	}); err != nil {
		return err
	}
	// Hovering the code grid shows the cell's code (see Root.HoverCell).
	if err := on("mouseover", func(ev safejs.Value) {
		t, err := ev.Get("target")
		if err != nil || t.IsNull() || t.IsUndefined() {
			return
		}
		idv, err := t.Get("id")
		if err != nil || idv.Type() != safejs.TypeString {
			return
		}
		id, _ := idv.String()
		if rest, ok := strings.CutPrefix(id, "gc-"); ok {
			if i, err := strconv.Atoi(rest); err == nil {
				go root.HoverCell(i)
			}
		}
	}); err != nil {
		return err
	}
	if err := on("change", func(ev safejs.Value) {
		el, slot := slotOf(ev, "data-file")
		if slot == "" {
			return
		}
		files, _ := el.Get("files")
		if n, _ := files.Length(); n > 0 {
			f, _ := files.Index(0)
			deliver(slot, f)
		}
		_ = el.Set("value", "") // picking the same file again fires change again
	}); err != nil {
		return err
	}
	for _, event := range []string{"dragenter", "dragover"} {
		if err := on(event, func(ev safejs.Value) {
			if el, slot := slotOf(ev, "data-drop"); slot != "" {
				_, _ = ev.Call("preventDefault") // allow the drop here
				cl, _ := el.Get("classList")
				_, _ = cl.Call("add", "over")
			}
		}); err != nil {
			return err
		}
	}
	if err := on("dragleave", func(ev safejs.Value) {
		if el, slot := slotOf(ev, "data-drop"); slot != "" {
			cl, _ := el.Get("classList")
			_, _ = cl.Call("remove", "over")
		}
	}); err != nil {
		return err
	}
	return on("drop", func(ev safejs.Value) {
		el, slot := slotOf(ev, "data-drop")
		if slot == "" {
			return
		}
		_, _ = ev.Call("preventDefault") // or the browser navigates to the file
		cl, _ := el.Get("classList")
		_, _ = cl.Call("remove", "over")
		dt, _ := ev.Get("dataTransfer")
		files, _ := dt.Get("files")
		if n, _ := files.Length(); n > 0 {
			f, _ := files.Index(0)
			deliver(slot, f)
		}
	})
}

// readFile reads a File in one copy.
func readFile(f safejs.Value) (string, []byte, error) {
	nv, _ := f.Get("name")
	name, _ := nv.String()
	pr, err := f.Call("arrayBuffer")
	if err != nil {
		return name, nil, err
	}
	ab, err := await(pr)
	if err != nil {
		return name, nil, fmt.Errorf("reading %s: %v", name, err)
	}
	b, err := bytesOf(ab)
	return name, b, err
}
