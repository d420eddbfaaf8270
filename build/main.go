// Command build assembles dist/, the static site of the CT-VAE demo:
//
//	go run ./build [-src .] [-out dist]
//
// It compiles the wasm programs, copies wasm_exec.js from the Go toolchain
// and the static files, weights and samples, names every file by its
// content hash, resolves {{asset "name"}} placeholders, and writes
// manifest.json, the service worker sw.js and .br/.gz variants. See
// README.md in this directory for the layout and the placeholder syntax.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	src := fs.String("src", ".", "repository root (holds wasm/, ui/, weights/)")
	out := fs.String("out", "dist", "site directory to create or replace (only an empty one or a previous build)")
	goCmd := fs.String("go", "go", "go command that compiles the wasm programs")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "build: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	if _, err := Build(Options{Src: *src, Out: *out, Go: *goCmd, Log: os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
