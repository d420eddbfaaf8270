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
//
// A page may instead name the worker with its init message ({name: JSON of
// {init}}, as ui/static/start.js does): the worker then starts at once,
// rather than when the page's thread is free to deliver a first message.
// init.ahead = {weights, manifest, cache} (URLs and a Cache API name) asks
// for a head start: the worker loads those weights from the cache if they
// match the manifest's sha256, samples the first gallery pair and
// reconstructs it before the page asks, announcing each request first
// (wasm/protocol's Ahead, TypeAhead), or announces id -1 when it asks
// nothing.
'use strict';

performance.mark('engine:script'); // for the load benchmark: the script runs

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

let named = null;
try {
  named = self.name ? JSON.parse(self.name).init : null;
} catch (err) {
  named = null;
}
if (named) {
  start(named);
} else {
  self.onmessage = (event) => start(event.data && event.data.init);
}

async function start(init) {
  if (!init || typeof init.wasm !== 'string' || typeof init.wasmExec !== 'string') {
    fatal('engine-worker: the first message must be {init: {wasmExec, wasm}} with two URLs');
    return;
  }
  self.onmessage = null; // the Go program sets its own
  // Asked for before wasm_exec.js loads, so that it cannot be missed.
  const follows = init.moduleFollows ? nextMessage() : null;
  const ahead = init.ahead ? headStart(init.ahead) : null;
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
    // A module compiled by the page (start.js) needs only instantiating.
    const instance = module instanceof WebAssembly.Module ?
      await WebAssembly.instantiate(module, go.importObject) :
      (await instantiate(init.wasm, go.importObject)).instance;
    performance.mark('engine:compiled');
    // The engine's SIMD kernel module imports the Go program's memory;
    // Go code cannot reach its own memory object any other way.
    self.ctvaeGoMemory = instance.exports.mem;
    if (ahead) {
      ahead();
    }
    go.run(instance).then(
      () => fatal('engine-worker: the engine program exited'),
      (err) => fatal(`engine-worker: the engine program failed: ${err && err.message}`));
  } catch (err) {
    fatal(`engine-worker: cannot start the engine from ${init.wasm}: ${err && err.message}`);
  }
}

// The first id of the worker's own requests: wasm/protocol's AheadIDs.
const AHEAD_IDS = 2 ** 52;

// headStart checks the cached weights now and returns the function that
// starts asking, called before the Go program runs: it watches what the
// program posts, to chain each request on the answer to the previous one and
// announce the next before that answer goes out.
function headStart(ahead) {
  const checked = checkWeights(ahead).catch(() => null).then((w) => {
    performance.mark(w ? 'engine:weights-checked' : 'engine:weights-refused'); // for the load benchmark
    return w;
  });
  return () => {
    const post = self.postMessage.bind(self);
    const waiting = new Map(); // id -> what to do with its answer (the message, or null for an error)
    let ready;
    const goReady = new Promise((resolve) => { ready = resolve; });
    let nextId = AHEAD_IDS;
    self.postMessage = (msg, transfer) => {
      let head = null;
      try {
        head = JSON.parse(msg.head);
      } catch (err) {
        // not a protocol message: passed on as it is
      }
      if (head && head.type === 'ready') {
        ready();
      } else if (head && head.type !== 'progress' && waiting.has(head.id)) {
        const then = waiting.get(head.id);
        waiting.delete(head.id);
        then(head.type === 'result' ? msg : null);
      }
      post(msg, transfer);
    };
    // ask announces a request, then hands it to the Go program's handler
    // as if the page had posted it (once this task is done).
    const ask = (op, fields, bufs, about, then) => {
      const id = nextId++;
      post({ head: JSON.stringify({ id, type: 'ahead', op, ...about.head }), arrays: about.arrays || {} });
      waiting.set(id, then);
      queueMicrotask(() => self.onmessage({ data: { head: JSON.stringify({ id, op, ...fields }), bufs } }));
    };
    const none = () => post({ head: JSON.stringify({ id: -1, type: 'ahead' }) });
    (async () => {
      const [w] = await Promise.all([checked, goReady]);
      if (!w) {
        none();
        return;
      }
      ask('load', { weights: 0, sha256: w.sha256 }, [w.bytes], { head: { sha256: w.sha256, size: w.bytes.byteLength } }, (loaded) => {
        if (loaded) {
          ask('sample', { seed: 1 }, [], { head: { seed: 1 } }, (sample) => {
            const x = sample && sample.arrays && sample.arrays.x;
            if (x instanceof Float32Array) {
              // A copy: the sample's answer transfers x to the page.
              const image = x.slice();
              ask('reconstruct', { image: { buf: 0, format: 'f32' } }, [image.buffer], { arrays: { image } }, () => {});
            }
          });
        }
      });
    })();
  };
}

// checkWeights reads the weights at ahead.weights from the Cache API store
// ahead.cache and returns {bytes, sha256} if the manifest lists that file
// with their size and sha256, else null.
async function checkWeights(ahead) {
  if (!self.caches || !self.crypto || !crypto.subtle) {
    return null;
  }
  const [listed, cache] = await Promise.all([fetch(ahead.manifest, { cache: 'no-cache' }), caches.open(ahead.cache)]);
  const resp = await cache.match(ahead.weights);
  if (!listed.ok || !resp) {
    return null;
  }
  const files = Object.values((await listed.json()).files || {});
  const entry = files.find((f) => new URL(f.path, ahead.manifest).href === ahead.weights);
  const bytes = await resp.arrayBuffer();
  if (!entry || entry.size !== bytes.byteLength) {
    return null;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  return sha256 === entry.sha256 ? { bytes, sha256 } : null;
}
