"""Function-preserving widening (Net2WiderNet-style) of the causal layer's
GATv2 hidden size h1 (causal_hidden_dims[1]) in a ctvae model file: new
module_0 channels get random lin_l/lin_r/lin_edge rows at the scale of the
old ones, zero att entries and biases; module_2 reads them with zero weights,
so every output is unchanged at the start. An experiment of the Shapes3D
model card (session 7), not part of the build or the tests.

    python3 widen_causal.py IN.safetensors OUT.safetensors H1

IN must be an F32 model file (`ctvae convert --ckpt F --dtype f32 --out IN`).
"""
import json, struct, sys
import numpy as np
if len(sys.argv) != 4:
    sys.exit(__doc__)
src, dst = sys.argv[1], sys.argv[2]
try:
    h1new = int(sys.argv[3])
except ValueError:
    sys.exit(f"widen_causal: H1 {sys.argv[3]!r} is not an integer")
b = open(src, 'rb').read()
n = struct.unpack('<Q', b[:8])[0] if len(b) >= 8 else 0
if n == 0 or 8 + n > len(b):
    sys.exit(f"widen_causal: {src} is not a safetensors file")
hdr = json.loads(b[8:8+n]); meta = hdr.pop('__metadata__', {})
if 'config' not in meta:
    sys.exit(f"widen_causal: {src} has no config metadata: not a ctvae model file")
data = b[8+n:]
t = {}
for k, v in hdr.items():
    if v['dtype'] != 'F32':
        sys.exit(f"widen_causal: {src}: tensor {k} is {v['dtype']}, want F32 (convert with --dtype f32 first)")
    s, e = v['data_offsets']
    t[k] = np.frombuffer(data[s:e], dtype='<f4').reshape(v['shape']).copy()
cfg = json.loads(meta['config'])
h0, h1 = cfg['causal_hidden_dims']; H = cfg['action_dim'] + 1; d = cfg['num_embeddings']
if h1new <= h1:
    sys.exit(f"widen_causal: H1 {h1new} must exceed the model's {h1}")
rng = np.random.default_rng(7)
p0 = 'ct_layer.graph_transitioner.module_0.'; p2 = 'ct_layer.graph_transitioner.module_2.'
def widen_rows(w, scale):  # [H*h1, ...] -> [H*h1new, ...]
    w = w.reshape((H, h1) + w.shape[1:])
    extra = (rng.standard_normal((H, h1new - h1) + w.shape[2:]) * scale).astype('<f4') if scale else np.zeros((H, h1new - h1) + w.shape[2:], '<f4')
    return np.concatenate([w, extra], axis=1).reshape((H * h1new,) + w.shape[2:])
# glorot-like scale of the existing rows
for name in ('lin_l.weight', 'lin_r.weight'):
    w = t[p0 + name]; t[p0 + name] = widen_rows(w, float(w.std()))
t[p0 + 'lin_edge.weight'] = widen_rows(t[p0 + 'lin_edge.weight'], float(t[p0 + 'lin_edge.weight'].std()))
for name in ('lin_l.bias', 'lin_r.bias', 'bias'):
    t[p0 + name] = widen_rows(t[p0 + name], 0)
att = t[p0 + 'att']  # [1, H, h1]
t[p0 + 'att'] = np.concatenate([att, np.zeros((1, H, h1new - h1), '<f4')], axis=2)
for name in ('lin_l.weight', 'lin_r.weight'):  # [H*d, H*h1] columns
    w = t[p2 + name].reshape(H * d, H, h1)
    t[p2 + name] = np.concatenate([w, np.zeros((H * d, H, h1new - h1), '<f4')], axis=2).reshape(H * d, H * h1new)
cfg['causal_hidden_dims'] = [h0, h1new]
meta['config'] = json.dumps(cfg, separators=(',', ':'))
out = {'__metadata__': meta}; blobs = []; off = 0
for k in hdr:  # same order
    a = np.ascontiguousarray(t[k], '<f4'); raw = a.tobytes()
    out[k] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
    blobs.append(raw); off += len(raw)
hj = json.dumps(out, separators=(',', ':')).encode()
hj += b' ' * ((8 - len(hj) % 8) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
print('wrote', dst, cfg)
