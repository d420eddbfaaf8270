// ctvae.js: the CT-VAE engine for any page, as a small ES module.
//
//   import { CTVAE } from './ctvae.js';
//   const m = await CTVAE.create({ base: './' });
//   await m.load('model.safetensors', { sha256, onProgress });
//   const r = await m.retrieve(x, y, { onProgress, signal });
//   r.retrieval.best.name, r.probs (Float32Array), r.ms
//
// The model runs in a dedicated Web Worker (engine-worker.js + engine.wasm),
// never on the page's thread. Every method returns a promise. Images are a
// Float32Array [C, S, S] in [0, 1], or PNG/JPEG bytes (Blob, File,
// ArrayBuffer or Uint8Array) that the worker decodes, centre-crops and
// resizes (result.notice says what it did); an Int32Array is a list of codes.
// Inputs are copied before they are transferred, so the caller's arrays stay
// usable. Errors are CTVAEError with a code: bad_request, no_model,
// bad_weights, bad_input, cancelled (name "AbortError"), internal, checksum,
// fetch, crashed. If the worker crashes, pending promises reject with code
// "crashed", a new worker starts and the last loaded weights are reloaded.
// The message protocol itself is documented in wasm/protocol (Go).

export class CTVAEError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
    this.name = code === 'cancelled' ? 'AbortError' : 'CTVAEError';
  }
}

export class CTVAE {
  #urls;
  #worker = null;
  #started = null; // promise: the worker is up (and the last weights reloaded)
  #pending = new Map(); // id -> {resolve, reject, onProgress, op}
  #nextId = 1;
  #weights = null; // {bytes, fields} of the last successful load
  #restarts = 0;
  #kernel = null; // the engine's tile kernel, from its ready message

  // create starts the worker. By default it uses the engine files built
  // beside this module (build/ writes their content-hashed names into the
  // placeholders below). base (relative to the page) points at a directory
  // holding engine-worker.js, wasm_exec.js and engine.wasm under their plain
  // names instead; worker, wasmExec and wasm override single URLs.
  static async create({ base, worker, wasmExec, wasm } = {}) {
    const built = {
      worker: new URL('{{asset "engine-worker.js"}}', import.meta.url),
      wasmExec: new URL('{{asset "wasm_exec.js"}}', import.meta.url),
      wasm: new URL('{{asset "engine.wasm"}}', import.meta.url),
    };
    const root = base === undefined ? null : new URL(base, self.location.href);
    const pick = (given, plain, fallback) => {
      if (given !== undefined) return new URL(given, root ?? self.location.href).href;
      return root ? new URL(plain, root).href : fallback.href;
    };
    const m = new CTVAE({
      worker: pick(worker, 'engine-worker.js', built.worker),
      wasmExec: pick(wasmExec, 'wasm_exec.js', built.wasmExec),
      wasm: pick(wasm, 'engine.wasm', built.wasm),
    });
    m.#started = m.#start();
    await m.#started;
    return m;
  }

  constructor(urls) {
    this.#urls = urls;
  }

  // worker is the current Worker (for tests and advanced use).
  get worker() {
    return this.#worker;
  }

  // kernel is the engine's GEMM kernel: 'simd128' (WebAssembly SIMD) or
  // 'go' (scalar, when the browser has no WebAssembly SIMD).
  get kernel() {
    return this.#kernel;
  }

  // restarts counts worker restarts after crashes.
  get restarts() {
    return this.#restarts;
  }

  #start() {
    return new Promise((resolve, reject) => {
      const w = new Worker(this.#urls.worker);
      this.#worker = w;
      let ready = false;
      w.onmessage = (event) => {
        const msg = event.data || {};
        let head;
        try {
          head = JSON.parse(msg.head);
        } catch (err) {
          console.error('ctvae: unreadable message from the engine', msg);
          return;
        }
        if (head.type === 'ready') {
          ready = true;
          this.#kernel = head.kernel || 'go';
          resolve();
          return;
        }
        if (head.type === 'fatal') {
          if (!ready) {
            reject(new CTVAEError('crashed', head.message));
            w.terminate();
            return;
          }
          this.#crashed(w, head.message);
          return;
        }
        this.#answer(head, msg.arrays || {});
      };
      w.onerror = (event) => {
        event.preventDefault && event.preventDefault();
        const why = (event && event.message) || 'worker error';
        if (!ready) {
          reject(new CTVAEError('crashed', `ctvae: the engine worker ${this.#urls.worker} failed to start: ${why}`));
          w.terminate();
          return;
        }
        this.#crashed(w, why);
      };
      w.onmessageerror = () => this.#crashed(w, 'a message from the engine could not be read');
      w.postMessage({ init: { wasmExec: this.#urls.wasmExec, wasm: this.#urls.wasm } });
    });
  }

  // #crashed rejects what was pending, starts a new worker and reloads the
  // last weights into it; requests made meanwhile wait for that.
  #crashed(w, why) {
    if (w !== this.#worker) {
      return; // an old worker's late event
    }
    w.terminate();
    this.#restarts++;
    const reload = this.#weights;
    const msg = `ctvae: the engine worker crashed (${why}); it was restarted` +
      (reload ? ' and the last weights are being reloaded' : '') + '; retry the request';
    for (const p of this.#pending.values()) {
      p.reject(new CTVAEError('crashed', msg));
    }
    this.#pending.clear();
    this.#started = this.#start().then(async () => {
      if (reload) {
        await this.#send('load', reload.fields, [reload.bytes.slice().buffer], 'weights');
      }
    });
    this.#started.catch((err) => console.error('ctvae: restarting the engine failed:', err));
  }

  #answer(head, arrays) {
    const p = this.#pending.get(head.id);
    if (!p) {
      if (head.type === 'error') {
        console.error('ctvae: engine error without a pending request:', head.message);
      }
      return;
    }
    if (head.type === 'progress') {
      if (p.onProgress) {
        try {
          p.onProgress({ done: head.done, total: head.total });
        } catch (err) {
          console.error('ctvae: onProgress threw:', err);
        }
      }
      return;
    }
    this.#pending.delete(head.id);
    if (head.type === 'error') {
      p.reject(new CTVAEError(head.code, head.message));
      return;
    }
    p.resolve(Object.assign(head, arrays));
  }

  // #send posts one request: fields go into the JSON head, bufs are
  // transferred, bufField names the head field that holds a buffer index.
  #send(op, fields, bufs = [], bufField = null, { onProgress, signal } = {}) {
    const id = this.#nextId++;
    const head = { id, op, ...fields };
    if (bufField) {
      head[bufField] = 0;
    }
    return new Promise((resolve, reject) => {
      if (signal && signal.aborted) {
        reject(new CTVAEError('cancelled', `ctvae: ${op} was aborted before it started`));
        return;
      }
      this.#pending.set(id, { resolve, reject, onProgress, op });
      if (signal) {
        const onAbort = () => {
          if (this.#pending.has(id)) {
            this.#worker.postMessage({ head: JSON.stringify({ id: this.#nextId++, op: 'cancel', target: id }) });
          }
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#worker.postMessage({ head: JSON.stringify(head), bufs }, bufs);
    });
  }

  // #ready waits for the current worker; if it crashes meanwhile, for its
  // replacement, so no request goes to a worker that is still starting.
  async #ready() {
    for (;;) {
      const s = this.#started;
      await s;
      if (s === this.#started) {
        return;
      }
    }
  }

  async #request(op, fields, inputs = {}, opts = {}) {
    const bufs = [];
    const head = { ...fields };
    for (const [name, value] of Object.entries(inputs)) {
      const { buf, format } = await toPayload(name, value);
      head[name] = { buf: bufs.length, format };
      bufs.push(buf);
    }
    await this.#ready();
    return this.#send(op, head, bufs, null, opts);
  }

  // load fetches (URL or string) or takes (ArrayBuffer, Uint8Array, Blob)
  // weights, checks sha256 when given, and loads them. A checked sha256 goes
  // with the weights, so the worker reports it as the model's checksum
  // instead of hashing the file again; without one the worker hashes it
  // (the checksum only names the model). onProgress gets
  // {phase: 'download'|'verify'|'load', loaded, total}; total is null when the
  // server does not say. On any error the previous model stays loaded.
  // Resolves with the model info (as info()).
  async load(src, { onProgress, sha256, sampling = 'mode', seed = 0 } = {}) {
    const tell = (phase, loaded, total) => {
      if (onProgress) {
        try {
          onProgress({ phase, loaded, total });
        } catch (err) {
          console.error('ctvae: onProgress threw:', err);
        }
      }
    };
    const bytes = await readWeights(src, tell);
    const fields = { sampling, seed };
    if (sha256) {
      tell('verify', bytes.byteLength, bytes.byteLength);
      const got = await sha256Hex(bytes);
      if (got !== String(sha256).toLowerCase()) {
        throw new CTVAEError('checksum', `ctvae: weights ${describe(src)} have sha256 ${got}, want ${sha256}; ` +
          'the file is corrupt or not the expected one (the previous model stays loaded)');
      }
      fields.sha256 = got;
    }
    tell('load', bytes.byteLength, bytes.byteLength);
    await this.#ready();
    const result = await this.#send('load', fields, [bytes.slice().buffer], 'weights');
    this.#weights = { bytes, fields };
    return result.info;
  }

  // info resolves with {config, dataset, preprocess, checksum, channels,
  // size, nodes, codebook, hasCausal, actions, factors, sampling, seed, bytes}.
  async info() {
    return (await this.#request('info', {})).info;
  }

  // reconstruct: {image, codes, input, mask, maskP, adjacency, codeProbs,
  // shape, nodes, notice, ms}; {vq: true} skips the causal layer.
  reconstruct(img, { vq = false } = {}) {
    return this.#request('reconstruct', vq ? { vq } : {}, { image: img });
  }

  // intervene applies action (index or name, e.g. "scale+") to an image or
  // to codes (Int32Array): {image, codes, mask, adjacency, action, ms, ...}.
  intervene(img, action) {
    return this.#request('intervene', { action }, { image: img });
  }

  // traverse applies action steps times: image [steps*C*S*S], codes
  // [steps*n], mask, adjacency stacked by step.
  traverse(img, action, steps, { onProgress, signal } = {}) {
    return this.#request('traverse', { action, steps }, { image: img }, { onProgress, signal });
  }

  // retrieve finds the action turning x into y: {retrieval: {best,
  // bestFactor, decrease, actions: [{index, name, p}], factors: [...]},
  // probs, factorProbs, dist, codesX, codesY, ms}. Aborting signal cancels it
  // in the worker (the promise rejects with an AbortError).
  retrieve(x, y, { samples = 1, onProgress, signal } = {}) {
    return this.#request('retrieve', { samples }, { x, y }, { onProgress, signal });
  }

  // encode: {codes}; decode(codes: Int32Array): {image}.
  encode(img) {
    return this.#request('encode', {}, { image: img });
  }

  decode(codes) {
    return this.#request('decode', {}, { image: codes });
  }

  // sample renders a seeded transition pair of a procedural dataset (default:
  // the model's): {x, y, sample: {action, factorsX, factorsY, ...}, shape}.
  sample({ dataset, seed = 0 } = {}) {
    return this.#request('sample', dataset ? { dataset, seed } : { seed });
  }

  // terminate stops the worker; the object is unusable afterwards.
  terminate() {
    const w = this.#worker;
    this.#worker = null;
    if (w) {
      w.terminate();
    }
    for (const p of this.#pending.values()) {
      p.reject(new CTVAEError('crashed', 'ctvae: the engine was terminated'));
    }
    this.#pending.clear();
  }
}

function describe(src) {
  return typeof src === 'string' || src instanceof URL ? String(src) : `(${src && src.constructor && src.constructor.name})`;
}

async function toPayload(name, v) {
  if (v instanceof Float32Array) {
    return { buf: v.slice().buffer, format: 'f32' };
  }
  if (v instanceof Int32Array) {
    return { buf: v.slice().buffer, format: 'codes' };
  }
  if (v instanceof Uint8Array) {
    return { buf: v.slice().buffer, format: 'image' };
  }
  if (v instanceof ArrayBuffer) {
    return { buf: v.slice(0), format: 'image' };
  }
  if (typeof Blob !== 'undefined' && v instanceof Blob) {
    return { buf: await v.arrayBuffer(), format: 'image' };
  }
  throw new CTVAEError('bad_request', `ctvae: ${name} is ${v && v.constructor ? v.constructor.name : typeof v}; ` +
    'want a Float32Array [C,S,S], PNG/JPEG bytes (Blob, ArrayBuffer, Uint8Array) or codes (Int32Array)');
}

async function readWeights(src, tell) {
  if (src instanceof ArrayBuffer) {
    return new Uint8Array(src.slice(0));
  }
  if (src instanceof Uint8Array) {
    return src.slice();
  }
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    return new Uint8Array(await src.arrayBuffer());
  }
  if (typeof src !== 'string' && !(src instanceof URL)) {
    throw new CTVAEError('bad_request', `ctvae: load takes a URL or bytes (ArrayBuffer, Uint8Array, Blob), not ${describe(src)}`);
  }
  let resp;
  try {
    resp = await fetch(src);
  } catch (err) {
    throw new CTVAEError('fetch', `ctvae: fetching weights ${src}: ${err.message}`);
  }
  if (!resp.ok) {
    throw new CTVAEError('fetch', `ctvae: fetching weights ${src}: HTTP ${resp.status} ${resp.statusText}`);
  }
  // Content-Length is the transfer size: with a compressed encoding it does
  // not count the bytes we read, so then the total is unknown.
  const len = Number(resp.headers.get('Content-Length'));
  const encoded = (resp.headers.get('Content-Encoding') || 'identity') !== 'identity';
  let total = len > 0 && !encoded ? len : null;
  if (!resp.body || !resp.body.getReader) {
    const b = new Uint8Array(await resp.arrayBuffer());
    tell('download', b.byteLength, b.byteLength);
    return b;
  }
  const reader = resp.body.getReader();
  const chunks = [];
  let loaded = 0;
  tell('download', 0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    chunks.push(value);
    loaded += value.byteLength;
    if (total !== null && loaded > total) {
      total = null;
    }
    tell('download', loaded, total);
  }
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

async function sha256Hex(bytes) {
  if (!self.crypto || !self.crypto.subtle) {
    throw new CTVAEError('checksum', 'ctvae: cannot check sha256 here: crypto.subtle needs a secure context (https or localhost)');
  }
  const d = new Uint8Array(await self.crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

export default CTVAE;
