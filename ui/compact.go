package ui

import (
	"strings"

	"github.com/vugu/vugu"
)

// Compact drops the template's indentation from a built page: text nodes
// that are only white space with a line break, which vugugen keeps from the
// .vugu file's layout. They are about half of the page's nodes, and vugu
// sends every node to the browser on every render; the page's layout does
// not depend on them (they sit between block, flex or grid items). Spaces
// within a line, such as between two inline words, are kept.
func Compact(n *vugu.VGNode) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == vugu.TextNode && strings.Contains(c.Data, "\n") && strings.TrimSpace(c.Data) == "" {
			unlink(c)
		} else if c.Type == vugu.ElementNode && c.InnerHTML == nil {
			Compact(c)
		}
		c = next
	}
}

func unlink(c *vugu.VGNode) {
	p := c.Parent
	if c.PrevSibling != nil {
		c.PrevSibling.NextSibling = c.NextSibling
	} else if p != nil {
		p.FirstChild = c.NextSibling
	}
	if c.NextSibling != nil {
		c.NextSibling.PrevSibling = c.PrevSibling
	} else if p != nil {
		p.LastChild = c.PrevSibling
	}
	c.Parent, c.PrevSibling, c.NextSibling = nil, nil, nil
}
