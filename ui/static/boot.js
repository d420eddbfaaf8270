// boot.js starts the CT-VAE page. It is a file, not an inline script, so the
// page runs under a strict Content-Security-Policy (script-src 'self'
// 'wasm-unsafe-eval'); the build replaces the asset placeholders below with its
// content-hashed names (see build/README.md).
'use strict';

(function () {
  const base = document.baseURI;
  const abs = (p) => new URL(p, base).href;
  // Read by wasm/app: where the engine worker and its files are.
  self.ctvaeAssets = {
    worker: abs('{{asset "engine-worker.js"}}'),
    wasmExec: abs('{{asset "wasm_exec.js"}}'),
    engine: abs('{{asset "engine.wasm"}}'),
    manifest: abs('manifest.json'),
  };
  const app = abs('{{asset "app.wasm"}}');
  // The manifest (the list of models) is asked for now, while the wasm
  // programs compile; wasm/app takes the answer (self.ctvaeManifest, a
  // promise of an ArrayBuffer, or null when it failed: then it asks again).
  self.ctvaeManifest = fetch(self.ctvaeAssets.manifest, { cache: 'no-cache' })
    .then((r) => (r.ok ? r.arrayBuffer() : null))
    .catch(() => null);
  // So are the weights the page loaded on its own last time, from the
  // weights cache (wasm/app uses them if they are still the model it loads
  // first, after checking them against the manifest's sha256).
  let first = null;
  try {
    first = self.localStorage.getItem('ctvae-first-weights');
  } catch (err) {
    // storage refused: no early read
  }
  if (first && self.caches) {
    self.ctvaeWeights = {
      path: first,
      bytes: caches.open('ctvae-weights-v1').then((c) => c.match(first))
        .then((r) => (r ? r.arrayBuffer() : null)).catch(() => null),
    };
  }
  // The engine worker starts now, while app.wasm is fetched and compiled
  // (it is the longer of the two starts); what it says before the app takes
  // it over waits in early (wasm/app replays it, then handles the rest).
  // engine.wasm is compiled here, on the page, and the compiled module is
  // posted to the worker: Chrome keeps the code of modules compiled with
  // compileStreaming on a page (V8's code cache), so later visits skip
  // compiling and start with the optimised code of the functions that ran.
  const engine = (self.ctvaeEngine = { worker: null, early: [] });
  if (typeof Worker === 'function') {
    try {
      const w = new Worker(self.ctvaeAssets.worker);
      w.onmessage = (e) => engine.early.push(e);
      w.onerror = (e) => { e.preventDefault(); engine.early.push(e); };
      w.onmessageerror = (e) => engine.early.push(e);
      const init = { wasmExec: self.ctvaeAssets.wasmExec, wasm: self.ctvaeAssets.engine };
      const compiled = typeof WebAssembly === 'object' && WebAssembly.compileStreaming ?
        WebAssembly.compileStreaming(fetch(init.wasm)).catch(() => null) : Promise.resolve(null);
      // The worker loads wasm_exec.js while the module compiles here, then
      // gets it. Without a module (a host that serves .wasm with another
      // MIME type) the worker fetches and compiles engine.wasm itself.
      w.postMessage({ init: { ...init, moduleFollows: true } });
      compiled.then((module) => w.postMessage({ module }));
      engine.worker = w;
    } catch (err) {
      console.warn('ctvae: the engine worker did not start early; the app starts it:', err);
    }
  }
  const status = document.getElementById('boot-status');
  const fail = (msg) => {
    status.textContent = 'CT-VAE could not start: ' + msg;
    status.className = 'error';
  };

  // vugu's domrender installs its helper with window.eval, which the CSP
  // refuses. vugu-render.js (loaded before this file) is that same helper,
  // and the helper returns at once when it is already installed, so its
  // eval is skipped here; every other eval goes to the browser (and the CSP).
  const nativeEval = self.eval;
  self.eval = function (src) {
    if (typeof src === 'string' && self.vuguRender && src.startsWith('(function(){if(window.vuguRender)return;')) {
      return undefined;
    }
    return nativeEval(src);
  };

  if ('serviceWorker' in navigator && self.isSecureContext) {
    // The service worker precaches the whole site for offline visits; a
    // failure only costs offline use.
    navigator.serviceWorker.register(abs('sw.js')).catch((err) => console.warn('ctvae: no offline support:', err));
  }

  if (typeof self.Go !== 'function' || typeof WebAssembly !== 'object') {
    fail('this browser lacks WebAssembly or wasm_exec.js did not load.');
    return;
  }
  const go = new self.Go();
  performance.mark('ctvae:boot');
  (async () => {
    // compileStreaming straight from fetch (no clone): the form whose code
    // Chrome caches for the next visit.
    let module;
    try {
      module = await WebAssembly.compileStreaming(fetch(app));
    } catch (err) {
      // Hosts that serve .wasm with another MIME type: compile from bytes.
      const resp = await fetch(app);
      if (!resp.ok) {
        throw new Error(`HTTP ${resp.status} fetching ${app}`);
      }
      module = await WebAssembly.compile(await resp.arrayBuffer());
    }
    const instance = await WebAssembly.instantiate(module, go.importObject);
    performance.mark('ctvae:app-compiled');
    status.textContent = '';
    await go.run(instance);
  })().catch((err) => fail(err && err.message ? err.message : String(err)));
})();
