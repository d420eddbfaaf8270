package ui

import (
	"strings"
	"testing"

	"github.com/vugu/vugu"
)

func TestCompact(t *testing.T) {
	n := &vugu.VGNode{Type: vugu.ElementNode, Data: "div"}
	add := func(p *vugu.VGNode, typ vugu.VGNodeType, data string) *vugu.VGNode {
		c := &vugu.VGNode{Type: typ, Data: data}
		p.AppendChild(c)
		return c
	}
	add(n, vugu.TextNode, "\n  ")
	p := add(n, vugu.ElementNode, "p")
	add(p, vugu.TextNode, "a")
	add(p, vugu.TextNode, " ") // a space within a line stays
	add(p, vugu.ElementNode, "b")
	add(p, vugu.TextNode, "\n    ")
	add(n, vugu.TextNode, "\n  ")
	add(n, vugu.ElementNode, "span")
	add(n, vugu.TextNode, "\n")
	Compact(n)
	var walk func(n *vugu.VGNode) string
	walk = func(n *vugu.VGNode) string {
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Parent != n || (c.NextSibling != nil && c.NextSibling.PrevSibling != c) {
				t.Fatalf("broken links at %q", c.Data)
			}
			if c.Type == vugu.TextNode {
				b.WriteString("[" + c.Data + "]")
			} else {
				b.WriteString("<" + c.Data + ">" + walk(c) + "</" + c.Data + ">")
			}
		}
		return b.String()
	}
	if got, want := walk(n), "<p>[a][ ]<b></b></p><span></span>"; got != want {
		t.Fatalf("compacted to %s, want %s", got, want)
	}
	if n.LastChild == nil || n.LastChild.Data != "span" || n.FirstChild.Data != "p" {
		t.Fatal("first and last child not updated")
	}
}
