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
  (async () => {
    const resp = await fetch(app);
    if (!resp.ok) {
      throw new Error(`HTTP ${resp.status} fetching ${app}`);
    }
    let result;
    try {
      result = await WebAssembly.instantiateStreaming(resp.clone(), go.importObject);
    } catch (err) {
      // Hosts that serve .wasm with another MIME type: compile from bytes.
      result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    }
    status.textContent = '';
    await go.run(result.instance);
  })().catch((err) => fail(err && err.message ? err.message : String(err)));
})();
