// boot.js starts the CT-VAE page once the document is parsed (a deferred
// script; start.js, in the head, already started the engine worker and the
// compilation of both wasm programs). It is a file, not an inline script, so
// the page runs under a strict Content-Security-Policy (script-src 'self'
// 'wasm-unsafe-eval').
'use strict';

(function () {
  const status = document.getElementById('boot-status');
  const fail = (msg) => {
    status.textContent = 'CT-VAE could not start: ' + msg;
    status.className = 'error';
  };
  if (!self.ctvaeAssets) {
    fail('start.js did not run.');
    return;
  }

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
    navigator.serviceWorker.register(new URL('sw.js', document.baseURI).href).catch((err) => console.warn('ctvae: no offline support:', err));
  }

  if (typeof self.Go !== 'function' || typeof WebAssembly !== 'object') {
    fail('this browser lacks WebAssembly or wasm_exec.js did not load.');
    return;
  }
  const go = new self.Go();
  performance.mark('ctvae:boot');
  (async () => {
    const app = self.ctvaeAssets.app;
    let module = await self.ctvaeApp;
    // The engine worker's module first: instantiating and running app.wasm
    // hold this thread, which the post to the worker needs.
    await self.ctvaeEnginePosted;
    if (!module) {
      // Hosts that serve .wasm with another MIME type: compile from bytes.
      const resp = await fetch(app);
      if (!resp.ok) {
        throw new Error(`HTTP ${resp.status} fetching ${app}`);
      }
      module = await WebAssembly.compile(await resp.arrayBuffer());
    }
    const instance = await WebAssembly.instantiate(module, go.importObject);
    performance.mark('ctvae:app-compiled');
    await go.run(instance);
  })().catch((err) => fail(err && err.message ? err.message : String(err)));
})();
