// start.js gives the engine its head start. It runs in the page's <head>,
// before the document is parsed and before app.wasm (the vugu page) has even
// been fetched: it starts the engine worker and compiles both wasm programs.
// The worker, told which weights the page loaded last time, loads them from
// the weights cache when they still match the manifest's sha256, samples the
// first gallery pair and reconstructs it, so that the answers are waiting
// when the page asks for the same things (wasm/protocol's Ahead; wasm/app
// adopts them). Nothing here touches the DOM; boot.js (deferred) starts the
// page. The build replaces the asset placeholders with content-hashed names.
'use strict';

(function () {
  const base = document.baseURI;
  const abs = (p) => new URL(p, base).href;
  // Read by wasm/app: where the engine worker and its files are.
  self.ctvaeAssets = {
    worker: abs('{{asset "engine-worker.js"}}'),
    wasmExec: abs('{{asset "wasm_exec.js"}}'),
    engine: abs('{{asset "engine.wasm"}}'),
    app: abs('{{asset "app.wasm"}}'),
    manifest: abs('manifest.json'),
  };
  const wasm = typeof WebAssembly === 'object' && typeof WebAssembly.compileStreaming === 'function';
  // compileStreaming straight from fetch (no clone): the form whose code
  // Chrome caches for the next visit (V8's code cache), so later visits skip
  // compiling. A failure (a host serving .wasm with another MIME type) is
  // null: boot.js and the worker then compile from bytes.
  const compile = (url) => (wasm ? WebAssembly.compileStreaming(fetch(url)).catch(() => null) : Promise.resolve(null));
  // The manifest (the list of models) is asked for now; wasm/app takes the
  // answer (self.ctvaeManifest, a promise of an ArrayBuffer, or null when it
  // failed: then it asks again).
  self.ctvaeManifest = fetch(self.ctvaeAssets.manifest, { cache: 'no-cache' })
    .then((r) => (r.ok ? r.arrayBuffer() : null))
    .catch(() => null);
  // So are the weights the page loaded on its own last time, from the
  // weights cache (wasm/app uses them if they are still the model it loads
  // first, after checking them against the manifest's sha256), and by the
  // engine worker for its head start. The cache's name is wasm/app's
  // weightsCache.
  const weightsCache = 'ctvae-weights-v1';
  let first = null;
  try {
    first = self.localStorage.getItem('ctvae-first-weights');
  } catch (err) {
    // storage refused: no early read
  }
  if (first && self.caches) {
    self.ctvaeWeights = {
      path: first,
      bytes: caches.open(weightsCache).then((c) => c.match(first))
        .then((r) => (r ? r.arrayBuffer() : null)).catch(() => null),
    };
  }
  // app.wasm compiles after engine.wasm when there is an engine worker to
  // start: compiled side by side, both finished late (693 and 699 ms into a
  // timed visit, against 402 and 524 in sequence).
  self.ctvaeApp = startEngine(first, abs).then(() => compile(self.ctvaeAssets.app));

  // startEngine starts the engine worker and returns a promise settled once
  // its module is posted (at once when there is no worker to start).
  function startEngine(first, abs) {
    if (typeof Worker !== 'function') {
      return Promise.resolve(); // wasm/app says what is missing
    }
    // The engine worker, named with its start-up message (engine-worker.js
    // reads self.name), so it starts at once rather than when the page's
    // thread is free to deliver a first message. Its head start: the weights
    // the page loaded last time, which it loads, samples and reconstructs on
    // its own (wasm/protocol's Ahead). What it says before the app takes it
    // over waits in early (wasm/app replays it, then handles the rest).
    const engine = (self.ctvaeEngine = { worker: null, early: [] });
    const init = { wasmExec: self.ctvaeAssets.wasmExec, wasm: self.ctvaeAssets.engine, moduleFollows: true };
    if (first) {
      init.ahead = { weights: abs(first), manifest: self.ctvaeAssets.manifest, cache: weightsCache };
      engine.ahead = true; // wasm/app waits for the worker's first announcement
    }
    let w;
    try {
      w = new Worker(self.ctvaeAssets.worker, { name: JSON.stringify({ init }) });
    } catch (err) {
      console.warn('ctvae: the engine worker did not start early; the app starts it:', err);
      return Promise.resolve();
    }
    engine.worker = w;
    performance.mark('ctvae:worker-created'); // for the load benchmark
    w.onmessage = (e) => engine.early.push(e);
    w.onerror = (e) => { e.preventDefault(); engine.early.push(e); };
    w.onmessageerror = (e) => engine.early.push(e);
    // The worker loads wasm_exec.js while engine.wasm compiles here, then
    // gets the module (or null: it fetches and compiles engine.wasm itself).
    // Compiled here rather than in the worker: a module the worker compiled
    // itself ran its first load 5x slower in a timed visit (247 ms against
    // 42-70), as if only a page's compile reused V8's cached code. boot.js
    // waits for this post before it instantiates app.wasm, which holds the
    // page's thread.
    self.ctvaeEnginePosted = compile(self.ctvaeAssets.engine).then((module) => {
      w.postMessage({ module });
      performance.mark('ctvae:engine-posted'); // for the load benchmark
    });
    return self.ctvaeEnginePosted;
  }
})();
