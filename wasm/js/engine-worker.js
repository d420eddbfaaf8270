// Bootstrap of the CT-VAE engine worker (a classic dedicated Worker).
//
// ctvae.js starts this script and posts {init: {wasmExec, wasm}} (URLs);
// the worker loads Go's wasm_exec.js, instantiates engine.wasm and runs it.
// init.module, when set, is engine.wasm compiled by the page (a
// WebAssembly.Module), used instead of fetching and compiling it here.
// init.moduleFollows says the page is compiling it: wasm_exec.js is loaded
// meanwhile and the next message is {module} (a WebAssembly.Module, or null
// to fetch and compile engine.wasm here).
// The Go program installs its own onmessage handler and posts
// {head: '{"type":"ready"}'}; from then on messages follow wasm/protocol.
// If the engine cannot start, or exits, a {"type":"fatal"} head is posted
// and ctvae.js restarts the worker.
'use strict';

function fatal(message) {
  self.postMessage({ head: JSON.stringify({ id: -1, type: 'fatal', code: 'fatal', message }) });
}

async function instantiate(url, imports) {
  const resp = await fetch(url);
  if (!resp.ok) {
    throw new Error(`HTTP ${resp.status} fetching ${url}`);
  }
  // Kept for hosts that serve .wasm with a wrong MIME type, which makes
  // instantiateStreaming fail: compile from the bytes instead.
  const copy = resp.clone();
  try {
    return await WebAssembly.instantiateStreaming(resp, imports);
  } catch (err) {
    return WebAssembly.instantiate(await copy.arrayBuffer(), imports);
  }
}

// nextMessage resolves with the data of the next message.
function nextMessage() {
  return new Promise((resolve) => {
    self.onmessage = (event) => {
      self.onmessage = null;
      resolve(event.data);
    };
  });
}

self.onmessage = async (event) => {
  const init = event.data && event.data.init;
  if (!init || typeof init.wasm !== 'string' || typeof init.wasmExec !== 'string') {
    fatal('engine-worker: the first message must be {init: {wasmExec, wasm}} with two URLs');
    return;
  }
  self.onmessage = null; // the Go program sets its own
  // Asked for before wasm_exec.js loads, so that it cannot be missed.
  const follows = init.moduleFollows ? nextMessage() : null;
  // Marks on the worker's performance timeline, read by the load benchmark.
  performance.mark('engine:init');
  try {
    self.importScripts(init.wasmExec);
    const go = new self.Go();
    let module = init.module;
    if (follows) {
      const data = await follows;
      module = data && data.module;
      performance.mark('engine:module');
    }
    // A module compiled by the page (boot.js) needs only instantiating.
    const instance = module instanceof WebAssembly.Module ?
      await WebAssembly.instantiate(module, go.importObject) :
      (await instantiate(init.wasm, go.importObject)).instance;
    performance.mark('engine:compiled');
    // The engine's SIMD kernel module imports the Go program's memory;
    // Go code cannot reach its own memory object any other way.
    self.ctvaeGoMemory = instance.exports.mem;
    go.run(instance).then(
      () => fatal('engine-worker: the engine program exited'),
      (err) => fatal(`engine-worker: the engine program failed: ${err && err.message}`));
  } catch (err) {
    fatal(`engine-worker: cannot start the engine from ${init.wasm}: ${err && err.message}`);
  }
};
