// Runs a js/wasm Go test binary under node as Go's own wasm_exec_node.js
// does (it is loaded from $GOROOT/lib/wasm), and also publishes the Go
// instance's memory as globalThis.ctvaeGoMemory, as the engine worker
// does, so that simd128.Install can reach it. Used as
//   GOOS=js GOARCH=wasm go test -exec "node wasm/simd128/testdata/node-exec.js" ./wasm/simd128
// with GOROOT in the environment (the Makefile sets it).
'use strict';

const path = require('path');
const goroot = process.env.GOROOT || require('child_process').execSync('go env GOROOT').toString().trim();
const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async (...args) => {
  const result = await instantiate(...args);
  const instance = result instanceof WebAssembly.Instance ? result : result.instance;
  globalThis.ctvaeGoMemory = instance.exports.mem;
  return result;
};
require(path.join(goroot, 'lib', 'wasm', 'wasm_exec_node.js'));
