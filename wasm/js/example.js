// The API example: client-side action retrieval with ctvae.js and no
// framework. Everything the page does goes through the CTVAE object m.
import { CTVAE } from '{{asset "ctvae.js"}}';

const $ = (id) => document.getElementById(id);
const state = { m: null, info: null, x: null, y: null, abort: null, frames: 0, seed: 1 };

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

// A frame counter: it keeps counting while the worker computes, which shows
// that the page stays responsive.
function tick() {
  state.frames++;
  $('frames').textContent = String(state.frames);
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

// drawCHW draws a [C, S, S] Float32Array in [0, 1] on a canvas.
function drawCHW(canvas, data, [c, s]) {
  const img = new ImageData(s, s);
  for (let i = 0; i < s * s; i++) {
    for (let k = 0; k < 3; k++) {
      const v = data[(c === 1 ? 0 : k) * s * s + i];
      img.data[4 * i + k] = Math.max(0, Math.min(255, Math.round(v * 255)));
    }
    img.data[4 * i + 3] = 255;
  }
  const tmp = new OffscreenCanvas(s, s);
  tmp.getContext('2d').putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

async function drawFile(canvas, file) {
  const bmp = await createImageBitmap(file);
  canvas.getContext('2d').drawImage(bmp, 0, 0, canvas.width, canvas.height);
}

function showInfo(info) {
  state.info = info;
  $('model-info').textContent =
    `dataset ${info.dataset || '(none)'}, ${info.channels}x${info.size}x${info.size}, ${info.nodes} codes of ${info.codebook}\n` +
    `actions: ${info.actions.join(', ')}\nsha256 ${info.checksum} (${info.bytes} bytes)`;
}

async function load(src, sha256) {
  const bar = $('load-progress');
  try {
    status('Loading the model...');
    const info = await state.m.load(src, {
      sha256: sha256 || undefined,
      onProgress: ({ phase, loaded, total }) => {
        bar.value = total ? loaded / total : 0;
        status(`Loading the model: ${phase} ${loaded} bytes${total ? ' of ' + total : ''}`);
      },
    });
    bar.value = 1;
    showInfo(info);
    status('Model loaded.');
    return info;
  } catch (err) {
    status(`${err.message}`, true);
    throw err;
  }
}

async function samplePair() {
  const s = await state.m.sample({ dataset: state.info ? undefined : 'shapes3d', seed: state.seed++ });
  state.x = s.x;
  state.y = s.y;
  drawCHW($('canvas-x'), s.x, s.shape);
  drawCHW($('canvas-y'), s.y, s.shape);
  $('truth').textContent = `Generated from ${s.sample.dataset}: the true action is ${s.sample.action.name}.`;
  return s;
}

// retrieve runs the retrieval of the current pair and shows it; onProgress
// (optional) also receives the worker's {done, total}.
async function retrieve(onProgress) {
  if (!state.x || !state.y) {
    status('Choose or generate two images first.', true);
    return null;
  }
  state.abort = new AbortController();
  $('cancel').disabled = false;
  const bar = $('retrieve-progress');
  try {
    const r = await state.m.retrieve(state.x, state.y, {
      signal: state.abort.signal,
      onProgress: (p) => {
        bar.value = p.done / p.total;
        if (onProgress) onProgress(p);
      },
    });
    const best = r.retrieval.best;
    $('answer').textContent = `Best action: ${best.name} (p = ${r.probs[best.index].toFixed(3)}), ` +
      `factor ${r.retrieval.bestFactor.name}; ${r.ms.toFixed(1)} ms in the worker.` +
      (r.notice ? ` Note: ${r.notice}` : '');
    const body = $('probs').tBodies[0];
    body.replaceChildren();
    for (const a of r.retrieval.actions) {
      const tr = body.insertRow();
      tr.className = a.index === best.index ? 'best' : '';
      tr.insertCell().textContent = a.name;
      tr.insertCell().textContent = a.p.toFixed(3);
      const bar = document.createElement('span');
      bar.style.width = `${Math.round(a.p * 200)}px`;
      const td = tr.insertCell();
      td.className = 'bar';
      td.append(bar);
    }
    status('Retrieved.');
    return r;
  } catch (err) {
    status(err.name === 'AbortError' ? 'Retrieval cancelled.' : err.message, err.name !== 'AbortError');
    throw err;
  } finally {
    $('cancel').disabled = true;
    state.abort = null;
  }
}

function quietly(p) {
  p.catch(() => {}); // already shown in the status line
}

$('load-url').addEventListener('click', () => quietly(load($('weights-url').value, $('weights-sha').value.trim())));
$('weights-file').addEventListener('change', (e) => {
  if (e.target.files[0]) quietly(load(e.target.files[0]));
});
$('sample').addEventListener('click', () => quietly(samplePair().catch((err) => status(err.message, true))));
for (const which of ['x', 'y']) {
  $(`file-${which}`).addEventListener('change', (e) => {
    const f = e.target.files[0];
    if (f) {
      state[which] = f; // decoded, cropped and resized in the worker
      quietly(drawFile($(`canvas-${which}`), f));
      $('truth').textContent = '';
    }
  });
}
$('retrieve').addEventListener('click', () => quietly(retrieve()));
$('cancel').addEventListener('click', () => state.abort && state.abort.abort());

// For tests and the console: the page's model and helpers.
globalThis.example = { state, load, samplePair, retrieve, model: () => state.m };

try {
  state.m = await CTVAE.create();
  status('Engine ready: load a model.');
  document.body.dataset.ready = 'true';
} catch (err) {
  status(err.message, true);
}
