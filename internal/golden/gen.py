"""Golden-file generator: an independent PyTorch CT-VAE written from docs/MODEL.md.

Run from the repository root with Debian's torch (1.13; the pyenv python on PATH
has no torch):

    /usr/bin/python3 internal/golden/gen.py            # writes internal/golden/testdata/*
    /usr/bin/python3 internal/golden/gen.py --check    # regenerate in memory, compare bytes

The output is byte-for-byte deterministic (fixed seeds, one thread, sorted
tensors): rerunning must not change the committed files. Module structure and
state_dict names follow the official code (nn.Sequential indices included);
GATv2Conv is written out in plain torch because torch_geometric is not packaged.
Files and tensor names are described in README.md next to this script.
"""
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

# One thread and fixed seeds: the same bytes on every run.
torch.set_num_threads(1)
OUTDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")

# Thresholds below which a discrete decision (argmin, argmax, p > 0.5, u < P1)
# counts as a near-tie that float32 rounding in another implementation could flip.
TIE_REL = 1e-4   # relative gap for argmin distances / argmax logits
TIE_P = 1e-3     # |p - 0.5| for mode sampling
TIE_U = 1e-5     # |u - P1| for sample mode (implementations agree on p to ~1e-6)


# ---------------------------------------------------------------- VQ-VAE

class ResidualLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.resblock = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.ReLU(),
            nn.Conv2d(c, c, 1, bias=False))

    def forward(self, x):
        return x + self.resblock(x)


class Quantizer(nn.Module):
    def __init__(self, k, dim):
        super().__init__()
        self.embedding = nn.Embedding(k, dim)
        self.embedding.weight.data.uniform_(-1 / k, 1 / k)


class VectorQuantizer(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, codebooks):
        super().__init__()
        self.K, self.D = codebooks, embedding_dim
        self.quantizers = nn.ModuleList(
            [Quantizer(num_embeddings, embedding_dim // codebooks) for _ in range(codebooks)])

    def forward(self, z):
        """z [N,D,h,w] -> codes [N,K,h,w], z_q [N,D,h,w], tie margins [N,K,h,w]."""
        n, _, h, w = z.shape
        step = self.D // self.K
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.D)
        codes, rows, margins = [], [], []
        for k, q in enumerate(self.quantizers):
            # The official quirk: codebook k reads channels [k, k+D/K).
            zk = flat[:, k:k + step]
            e = q.embedding.weight
            zz = torch.sum(zk ** 2, dim=1, keepdim=True)
            ee = torch.sum(e ** 2, dim=1)
            dist = zz + ee - 2 * torch.matmul(zk, e.t())
            idx = torch.argmin(dist, dim=1)
            top2 = torch.topk(dist, 2, dim=1, largest=False).values
            margins.append((top2[:, 1] - top2[:, 0]) / (zz[:, 0] + ee.mean()))
            codes.append(idx)
            rows.append(e[idx])
        codes = torch.stack(codes, 1).reshape(n, h, w, self.K).permute(0, 3, 1, 2)
        margins = torch.stack(margins, 1).reshape(n, h, w, self.K).permute(0, 3, 1, 2)
        zq = torch.cat(rows, 1).reshape(n, h, w, self.D).permute(0, 3, 1, 2)
        return codes.contiguous(), zq.contiguous(), margins

    def lookup(self, codes):
        """codes [N,K,h,w] -> z_q [N,D,h,w] (concatenated rows)."""
        rows = [q.embedding.weight[codes[:, k]] for k, q in enumerate(self.quantizers)]
        return torch.cat(rows, -1).permute(0, 3, 1, 2).contiguous()


def build_encoder(cin, hidden, emb, res):
    mods = []
    for hd in hidden:
        mods.append(nn.Sequential(nn.Conv2d(cin, hd, 4, 2, 1), nn.LeakyReLU()))
        cin = hd
    mods.append(nn.Sequential(nn.Conv2d(cin, cin, 3, 1, 1), nn.LeakyReLU()))
    mods += [ResidualLayer(cin) for _ in range(res)]
    mods.append(nn.LeakyReLU())
    mods.append(nn.Sequential(nn.Conv2d(cin, emb, 1), nn.LeakyReLU()))
    return nn.Sequential(*mods)


def build_decoder(cout, hidden, emb, res):
    hid = list(reversed(hidden))
    mods = [nn.Sequential(nn.Conv2d(emb, hid[0], 3, 1, 1), nn.LeakyReLU())]
    mods += [ResidualLayer(hid[0]) for _ in range(res)]
    mods.append(nn.LeakyReLU())
    for a, b in zip(hid[:-1], hid[1:]):
        mods.append(nn.Sequential(nn.ConvTranspose2d(a, b, 4, 2, 1), nn.LeakyReLU()))
    mods.append(nn.Sequential(nn.ConvTranspose2d(hid[-1], cout, 4, 2, 1), nn.Tanh()))
    return nn.Sequential(*mods)


# ---------------------------------------------------------------- causal layer

def sinusoidal_pe(d, max_len=4096):
    """The official PositionalEncoding buffer [max_len,1,d], float32 throughout."""
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, 1, d)
    pe[:, 0, 0::2] = torch.sin(position * div_term)
    pe[:, 0, 1::2] = torch.cos(position * div_term)
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.register_buffer("pe", sinusoidal_pe(d))


class GATv2(nn.Module):
    """PyG 2.2 GATv2Conv(concat, slope 0.2, share_weights False, edge_dim 1,
    add_self_loops with fill_value "mean"), on a dense weighted adjacency."""

    def __init__(self, fin, c, heads):
        super().__init__()
        self.H, self.C = heads, c
        self.lin_l = nn.Linear(fin, heads * c)
        self.lin_r = nn.Linear(fin, heads * c)
        self.lin_edge = nn.Linear(1, heads * c, bias=False)
        self.att = nn.Parameter(torch.empty(1, heads, c))
        self.bias = nn.Parameter(torch.empty(heads * c))
        for lin in (self.lin_l, self.lin_r, self.lin_edge):
            glorot_(lin.weight)
        glorot_(self.att)
        # PyG zero-initialises the biases; small non-zero values exercise them.
        for b in (self.lin_l.bias, self.lin_r.bias, self.bias):
            nn.init.uniform_(b, -0.01, 0.01)

    def forward(self, x, wadj):
        """x [M,Fin], wadj [M,M] (edge i -> j iff wadj[i,j] != 0) -> [M,H*C]."""
        m = x.shape[0]
        eye = torch.eye(m, dtype=torch.bool)
        edge = (wadj != 0) & ~eye
        attr = torch.where(edge, wadj, torch.zeros_like(wadj))
        cnt = edge.sum(0)
        # Self-loop attribute: mean of the node's incoming (non-loop) attributes.
        loop = torch.where(cnt > 0, attr.sum(0) / cnt.clamp(min=1).float(), torch.zeros(m))
        attr = torch.where(eye, loop.unsqueeze(0).expand(m, m), attr)
        edge = edge | eye
        xl = self.lin_l(x).view(m, self.H, self.C)                    # source
        xr = self.lin_r(x).view(m, self.H, self.C)                    # target
        ea = self.lin_edge(attr.reshape(m * m, 1)).view(m, m, self.H, self.C)
        s = xr.unsqueeze(0) + xl.unsqueeze(1) + ea                    # [i,j,H,C]
        s = F.leaky_relu(s, 0.2)
        e = (s * self.att.view(1, 1, self.H, self.C)).sum(-1)          # [i,j,H]
        e = e.masked_fill(~edge.unsqueeze(-1), float("-inf"))
        alpha = torch.softmax(e, dim=0)                              # over sources i
        out = torch.einsum("ijh,ihc->jhc", alpha, xl)
        return out.reshape(m, self.H * self.C) + self.bias


class GraphTransitioner(nn.Module):
    def __init__(self, d, h1, heads):
        super().__init__()
        self.module_0 = GATv2(d, h1, heads)
        self.module_1 = nn.LeakyReLU()
        self.module_2 = GATv2(h1 * heads, d, heads)


class CTLayer(nn.Module):
    def __init__(self, d, a, h0, h1):
        super().__init__()
        self.d, self.A = d, a
        self.a_dense = nn.Linear(a, d)
        self.pos_encoding = PositionalEncoding(d)
        self.graph_discovers = nn.ModuleList([
            nn.Sequential(nn.Linear(2 * d, h0), nn.LeakyReLU(), nn.Linear(h0, 1), nn.Sigmoid())
            for _ in range(a + 1)])
        self.mask = nn.Sequential(nn.Linear(a + d, d), nn.Sigmoid())
        self.graph_transitioner = GraphTransitioner(d, h1, a + 1)

    def discover(self, k, x):
        """Discoverer k over every ordered pair [x_i ; x_j] -> [n,n]."""
        n = x.shape[0]
        pairs = torch.cat([x.unsqueeze(1).expand(n, n, self.d),
                           x.unsqueeze(0).expand(n, n, self.d)], -1)
        return self.graph_discovers[k](pairs.reshape(n * n, 2 * self.d)).view(n, n)

    def forward(self, codes, action, sampling, u_mask=None, u_adj=None, base_adj=None):
        """One graph: codes [n] long, action -1 (base) or a. Returns a dict of
        intermediates. base_adj caches discoverer 0 for these codes."""
        n, d = codes.shape[0], self.d
        pe = self.pos_encoding.pe[:n, 0]
        x = F.one_hot(codes, d).float() + pe
        avec = torch.zeros(self.A)
        out = {}
        if action < 0:
            m = torch.zeros(n)
        else:
            avec[action] = 1
            mp = self.mask(torch.cat([avec.expand(n, self.A), pe], -1))
            p = mp.gather(1, codes.view(n, 1))[:, 0]
            out["mask_p"] = p
            m = keep(p, sampling, u_mask)
        out["mask"] = m
        adj0 = base_adj if base_adj is not None else self.discover(0, x)
        out["adj0"] = adj0
        if action < 0:
            adj = adj0
        else:
            adj = torch.where(m.unsqueeze(1) > 0, self.discover(1 + action, x), adj0)
        out["adj_p"] = adj
        w = adj * keep(adj, sampling, u_adj)
        out["adj"] = w
        # Action node n: a column of ones (every latent -> n) and a zero row.
        wp = torch.zeros(n + 1, n + 1)
        wp[:n, :n] = w
        wp[:n, n] = 1
        xp = torch.cat([x, self.a_dense(avec).unsqueeze(0)], 0)
        gt = self.graph_transitioner
        h = gt.module_1(gt.module_0(xp, wp))
        out["gat0"] = h
        o = gt.module_2(h, wp)[:n].view(n, self.A + 1, d)
        head = (m > 0).long() * (1 + max(action, 0))
        logits = o[torch.arange(n), head]
        out["logits"] = logits
        out["probs"] = torch.softmax(logits, -1)
        out["codes"] = torch.argmax(logits, -1)
        return out


def p_keep(p):
    c = lambda v: torch.clamp(v, min=1e-4)  # noqa: E731
    return c(p) / (c(p) + c(1 - p))


def keep(p, sampling, u):
    if sampling == "mode":
        return (p > 0.5).float()
    return (u < p_keep(p)).float()


class CTVAE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["embedding_dim"]
        self.encoder = build_encoder(cfg["in_channels"], cfg["hidden_dims"], d, cfg["residual_layers"])
        self.vq_layer = VectorQuantizer(cfg["num_embeddings"], d, cfg["codebooks"])
        self.decoder = build_decoder(cfg["in_channels"], cfg["hidden_dims"], d, cfg["residual_layers"])
        if "action_dim" in cfg:
            h0, h1 = cfg["causal_hidden_dims"]
            self.ct_layer = CTLayer(cfg["num_embeddings"], cfg["action_dim"], h0, h1)

    def encode(self, x, record=None):
        for i, mod in enumerate(self.encoder):
            x = mod(x)
            if record is not None:
                record["io.encoder.%d" % i] = x
        return x

    def decode(self, z, record=None):
        for i, mod in enumerate(self.decoder):
            z = mod(z)
            if record is not None:
                record["io.decoder.%d" % i] = z
        return z

    def codes_to_nodes(self, codes):
        return codes.reshape(codes.shape[0], -1)                     # [N,K*h*w]

    def nodes_to_image(self, nodes, hw):
        codes = nodes.reshape(nodes.shape[0], self.cfg["codebooks"], hw[0], hw[1])
        return self.decode(self.vq_layer.lookup(codes))


def glorot_(t):
    a = math.sqrt(6.0 / (t.size(-2) + t.size(-1)))
    with torch.no_grad():
        t.uniform_(-a, a)


# ---------------------------------------------------------------- formula weights

def fnv1a32(s):
    h = 2166136261
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def formula_tensor(name, shape, bound):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    v = (i * np.uint64(2654435761) + np.uint64(fnv1a32(name))) & np.uint64(0xFFFFFFFF)
    u = v.astype(np.float64) / 4294967296.0
    return torch.from_numpy(((2 * u - 1) * bound).astype(np.float32).reshape(shape))


def default_bound(name, t, cfg):
    """PyTorch's default init bounds (PyG glorot for GATv2), as uniform(-s, s)."""
    if name.endswith("pos_encoding.pe"):
        return None
    if "embedding.weight" in name:
        return 1.0 / cfg["num_embeddings"]
    if "graph_transitioner" in name:
        if name.endswith("att"):
            return math.sqrt(6.0 / (t.size(-2) + t.size(-1)))
        if name.endswith("weight"):
            return math.sqrt(6.0 / (t.size(0) + t.size(1)))
        return 0.01  # PyG's zero biases, made non-zero to exercise them
    if ".decoder." in "." + name and t.dim() == 4 and is_transposed(name, cfg):
        fan_in = t.size(1) * t.size(2) * t.size(3)
    elif name.endswith("bias"):
        fan_in = None
    else:
        fan_in = int(np.prod(t.shape[1:]))
    if fan_in is None:
        return None  # filled from the matching weight below
    return 1.0 / math.sqrt(fan_in)


def is_transposed(name, cfg):
    idx = int(name.split(".")[1])
    return idx >= 2 + cfg["residual_layers"]


def formula_state(model, cfg, scale, override=None):
    """Returns (state_dict, bounds, shapes); scale: {name: factor} on top of the
    default bounds, override: {name: bound} replacing them."""
    sd = model.state_dict()
    bounds = {}
    for name, t in sd.items():
        b = default_bound(name, t, cfg)
        if b is not None:
            bounds[name] = b
    for name, t in sd.items():
        if name not in bounds and name.endswith("bias") and "graph_transitioner" not in name:
            bounds[name] = bounds[name[:-4] + "weight"]  # PyTorch: bias bound = 1/sqrt(fan_in)
    for name, f in scale.items():
        bounds[name] *= f
    bounds.update(override or {})
    out, shapes = {}, {}
    for name, t in sd.items():
        if name in bounds:
            out[name] = formula_tensor(name, list(t.shape), bounds[name])
            shapes[name] = list(t.shape)
        else:
            out[name] = t
    return out, bounds, shapes


# ---------------------------------------------------------------- helpers

def seeded_model(cfg, seed):
    torch.manual_seed(seed)
    return CTVAE(cfg).eval()


def vq_outputs(model, x, rec, per_layer=True):
    """Runs the VQ-VAE on x, filling rec; returns (codes, min argmin margin)."""
    rec["io.x"] = x
    z = model.encode(x, rec if per_layer else None)
    codes, zq, marg = model.vq_layer(z)
    rec["io.z_e"] = z
    rec["io.codes"] = codes
    rec["io.z_q"] = zq
    rec["io.recon"] = model.decode(zq, rec if per_layer else None)
    return codes, float(marg.min())


def logit_margin(logits):
    top2 = torch.topk(logits, 2, dim=-1).values
    scale = logits.abs().max(-1).values.clamp(min=1e-6)
    return float(((top2[..., 0] - top2[..., 1]) / scale).min())


def smooth_images(n, c, size, gen):
    """Sums of a few random low-frequency sinusoids, mapped to [0,1]."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    imgs = torch.zeros(n, c, size, size)
    for i in range(n):
        for ch in range(c):
            acc = torch.zeros(size, size)
            for _ in range(4):
                f = torch.rand(3, generator=gen)
                acc += torch.sin((f[0] * 6 + 1) * 2 * math.pi * xx / size * torch.cos(f[1] * math.pi)
                                 + (f[0] * 6 + 1) * 2 * math.pi * yy / size * torch.sin(f[1] * math.pi)
                                 + f[2] * 2 * math.pi)
            imgs[i, ch] = (acc - acc.min()) / (acc.max() - acc.min())
    return imgs


def write(name, tensors, meta):
    path = os.path.join(OUTDIR, name)
    if CHECK:
        tmp = path + ".check"
        safetensors_io.save(tmp, tensors, meta)
        same = open(tmp, "rb").read() == open(path, "rb").read()
        os.remove(tmp)
        print("%-28s %s" % (name, "same" if same else "DIFFERENT"))
        if not same:
            sys.exit(1)
        return
    safetensors_io.save(path, tensors, meta)
    data = open(path, "rb").read()
    print("%-28s %8d bytes sha256 %s" % (name, len(data), hashlib.sha256(data).hexdigest()[:16]))


CHECK = "--check" in sys.argv[1:]


# ---------------------------------------------------------------- vqvae_tiny_k2

VQ_TINY = dict(in_channels=3, img_size=16, hidden_dims=[4, 8], embedding_dim=8,
               num_embeddings=6, codebooks=2, residual_layers=2)


def fit_codebooks(model, z, gen, spread):
    """Re-draws each codebook uniformly around the mean of the channels it reads,
    +- spread standard deviations per channel. Random encoders give z_e that
    varies little across positions (std ~0.01 around means ~0.1), so the
    official uniform(-1/K, 1/K) codebook makes every position pick the same code;
    this keeps the codes non-trivial."""
    step = model.vq_layer.D // model.vq_layer.K
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    for k, q in enumerate(model.vq_layer.quantizers):
        win = flat[:, k:k + step]
        mu, sd = win.mean(0), win.std(0)
        u = torch.rand(q.embedding.weight.shape, generator=gen) * 2 - 1
        q.embedding.weight.copy_(mu + spread * sd * u)


def gen_vqvae_tiny():
    for seed in range(100, 200):
        model = seeded_model(VQ_TINY, seed)
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(2, 3, 16, 16, generator=g)
        with torch.no_grad():
            fit_codebooks(model, model.encode(x), g, 1.5)
            rec = {}
            codes, marg = vq_outputs(model, x, rec)
        used = [len(set(codes[:, k].flatten().tolist())) for k in range(2)]
        if marg > TIE_REL and min(used) >= 3:
            break
    else:
        raise SystemExit("vqvae_tiny_k2: no seed without near-ties")
    t = dict(model.state_dict())
    t.update(rec)
    meta = {"config": json.dumps(VQ_TINY), "weights": "stored", "seed": seed,
            "min_argmin_margin": "%.3g" % marg}
    print("vqvae_tiny_k2: seed %d codes used per codebook %s margin %.3g" % (seed, used, marg))
    write("vqvae_tiny_k2.safetensors", t, meta)


# ---------------------------------------------------------------- causal goldens

class Checks:
    """Smallest distance to a flip seen for each kind of discrete decision."""

    def __init__(self):
        self.m = {"argmin": 1.0, "p_half": 1.0, "u_p1": 1.0, "argmax_code": 1.0,
                  "argmin_action": 1.0}

    def see(self, kind, v):
        self.m[kind] = min(self.m[kind], float(v))

    def ok(self):
        return (self.m["argmin"] > TIE_REL and self.m["p_half"] > TIE_P and self.m["u_p1"] > TIE_U
                and self.m["argmax_code"] > TIE_REL and self.m["argmin_action"] > TIE_REL)

    def meta(self):
        return json.dumps({k: float("%.3g" % v) for k, v in sorted(self.m.items())})


def off_diag(a):
    n = a.shape[-1]
    return a[..., ~torch.eye(n, dtype=torch.bool)]


class CTRunner:
    """Runs the causal layer on node codes, caching the discoverer-0 adjacency
    and mode-sampling results, and records how close every decision was."""

    def __init__(self, ct, checks):
        self.ct, self.checks, self.base, self.cache = ct, checks, {}, {}

    def run(self, codes, action, sampling, u_mask=None, u_adj=None):
        key = (tuple(codes.tolist()), action)
        if sampling == "mode" and key in self.cache:
            return self.cache[key]
        out = self.ct(codes, action, sampling, u_mask, u_adj, self.base.get(key[0]))
        self.base[key[0]] = out["adj0"]
        c = self.checks
        if sampling == "mode":
            c.see("p_half", (off_diag(out["adj_p"]) - 0.5).abs().min())
            if action >= 0:
                c.see("p_half", (out["mask_p"] - 0.5).abs().min())
            self.cache[key] = out
        else:
            c.see("u_p1", (off_diag(u_adj) - off_diag(p_keep(out["adj_p"]))).abs().min())
            if action >= 0:
                c.see("u_p1", (u_mask - p_keep(out["mask_p"])).abs().min())
        c.see("argmax_code", logit_margin(out["logits"]))
        return out


def causal_outputs(model, runner, nodes, cases, gen, rec):
    """Fills io.ct.* for every case; returns the case list for metadata."""
    n_img, n = nodes.shape
    rec["io.ct.codes"] = nodes
    for case in cases:
        name, a, smp = case["name"], case["action"], case["sampling"]
        outs = []
        for b in range(n_img):
            um = ua = None
            if smp == "sample":
                # Redraw the uniforms while one lands within TIE_U of its P1.
                while True:
                    um = torch.rand(n, generator=gen)
                    ua = torch.rand(n, n, generator=gen)
                    probe = Checks()
                    o = CTRunner(runner.ct, probe).run(nodes[b], a, smp, um, ua)
                    if probe.m["u_p1"] > TIE_U:
                        break
            o = runner.run(nodes[b], a, smp, um, ua)
            o = dict(o, u_mask=um, u_adj=ua)
            outs.append(o)
        keys = ["mask", "adj_p", "adj", "gat0", "logits", "probs", "codes"]
        if a >= 0:
            keys.append("mask_p")
        if smp == "sample":
            keys.append("u_adj")
            if a >= 0:
                keys.append("u_mask")
        for k in keys:
            rec["io.ct.%s.%s" % (name, k)] = torch.stack([o[k] for o in outs])


def retrieval_outputs(model, runner, x_img, y_img, rec, checks):
    """Image pairs -> codes through the VQ-VAE -> per-action distance, softmin."""
    A = model.cfg["action_dim"]
    cx, _, mx = model.vq_layer(model.encode(x_img))
    cy, _, my = model.vq_layer(model.encode(y_img))
    checks.see("argmin", min(float(mx.min()), float(my.min())))
    xn, yn = model.codes_to_nodes(cx), model.codes_to_nodes(cy)
    dist = torch.zeros(x_img.shape[0], A)
    for p in range(x_img.shape[0]):
        for a in range(A):
            q = runner.run(xn[p], a, "mode")["probs"]
            # The official CE on log-probabilities: cross_entropy re-normalises.
            dist[p, a] = F.cross_entropy(torch.log(torch.clamp(q, min=1e-4)), yn[p])
        top2 = torch.topk(dist[p], 2, largest=False).values
        checks.see("argmin_action", (top2[1] - top2[0]) / top2[0].abs())
    rec["io.ret.x"], rec["io.ret.y"] = x_img, y_img
    rec["io.ret.x_codes"], rec["io.ret.y_codes"] = xn, yn
    rec["io.ret.dist"] = dist
    rec["io.ret.probs"] = F.softmin(dist, dim=-1)


def whole_model_outputs(model, runner, nodes, hw, actions, rec):
    base = torch.stack([runner.run(nb, -1, "mode")["codes"] for nb in nodes])
    rec["io.ct_recon"] = model.nodes_to_image(base, hw)
    for a in actions:
        c = torch.stack([runner.run(nb, a, "mode")["codes"] for nb in nodes])
        rec["io.int.a%d.codes" % a] = c
        rec["io.int.a%d.image" % a] = model.nodes_to_image(c, hw)


def mix(t):
    """Fraction of ones in a 0/1 tensor (or of non-zeros)."""
    return float((t != 0).float().mean())


def central_gap(v, lo_q, hi_q):
    """The middle of the widest gap between sorted values v inside their
    [lo_q, hi_q] quantile window, and that gap's half-width. Moving the decision threshold there keeps every
    value far from it, so p > 0.5 decisions are robust to float rounding."""
    s = torch.sort(v.flatten()).values
    lo, hi = torch.quantile(s, lo_q), torch.quantile(s, hi_q)
    mids = (s[1:] + s[:-1]) / 2
    gaps = s[1:] - s[:-1]
    ok = (mids >= lo) & (mids <= hi)
    gaps = torch.where(ok, gaps, torch.zeros_like(gaps))
    j = int(torch.argmax(gaps))
    return float(mids[j]), float(gaps[j]) / 2


def pair_inputs(ct, nodes):
    """x = one-hot + pe of every image's nodes, [N,n,d]."""
    pe = ct.pos_encoding.pe[:nodes.shape[1], 0]
    return F.one_hot(nodes, ct.d).float() + pe


def discoverer_preact(ct, k, nodes):
    """Discoverer k's last-layer output without its bias, every pair of every image."""
    mlp = ct.graph_discovers[k]
    vs = []
    for x in pair_inputs(ct, nodes):
        n = x.shape[0]
        pairs = torch.cat([x.unsqueeze(1).expand(n, n, ct.d), x.unsqueeze(0).expand(n, n, ct.d)], -1)
        vs.append(F.linear(mlp[1](mlp[0](pairs.reshape(n * n, -1))), mlp[2].weight))
    return torch.cat(vs)


def mask_preact(ct, nodes):
    """Mask pre-activations without bias at each node's code, every action:
    returns (values [N*A*n], codes [N*A*n])."""
    vs, cs = [], []
    pe = ct.pos_encoding.pe[:nodes.shape[1], 0]
    for codes in nodes:
        for a in range(ct.A):
            avec = torch.zeros(ct.A)
            avec[a] = 1
            inp = torch.cat([avec.expand(pe.shape[0], ct.A), pe], -1)
            v = F.linear(inp, ct.mask[0].weight).gather(1, codes.view(-1, 1))[:, 0]
            vs.append(v)
            cs.append(codes)
    return torch.cat(vs), torch.cat(cs)


# ---------------------------------------------------------------- ctvae_tiny

CT_TINY = dict(in_channels=1, img_size=32, hidden_dims=[8, 16], embedding_dim=8,
               num_embeddings=8, codebooks=1, residual_layers=2, action_dim=4,
               causal_hidden_dims=[12, 6])
# Random init leaves every probability near 0.5; scaling the discoverers' last
# layers and the mask layer spreads them over (0,1) so mode sampling is not a
# coin toss. The discoverers see 8192 pairs, so they need the wider spread for
# the p = 0.5 threshold to find a gap of +-1e-3 (see center_biases).
CT_TINY_SCALE = {"discoverer": 50.0, "mask": 8.0}


def tiny_cases(A):
    cases = [{"name": "base", "action": -1, "sampling": "mode"}]
    cases += [{"name": "a%d" % a, "action": a, "sampling": "mode"} for a in range(A)]
    cases += [{"name": "base_sample", "action": -1, "sampling": "sample"}]
    cases += [{"name": "a%d_sample" % a, "action": a, "sampling": "sample"} for a in (1, 3)]
    return cases


def scale_causal(ct, f):
    with torch.no_grad():
        for mlp in ct.graph_discovers:
            mlp[2].weight.mul_(f["discoverer"])
            mlp[2].bias.mul_(f["discoverer"])
        ct.mask[0].weight.mul_(f["mask"])
        ct.mask[0].bias.mul_(f["mask"])


def center_biases(ct, nodes):
    """Sets each discoverer's last bias and each code's mask bias so that the
    p = 0.5 threshold sits in a wide gap of the values these inputs produce."""
    for k, mlp in enumerate(ct.graph_discovers):
        mid, _ = central_gap(discoverer_preact(ct, k, nodes), 0.25, 0.75)
        mlp[2].bias.fill_(-mid)
    v, c = mask_preact(ct, nodes)
    for code in range(ct.d):
        sel = v[c == code]
        if sel.numel() > 1:
            mid, _ = central_gap(sel, 0.2, 0.8)
            ct.mask[0].bias[code] = -mid


def gen_ctvae_tiny():
    cfg = CT_TINY
    A, hw = cfg["action_dim"], (cfg["img_size"] // 4, cfg["img_size"] // 4)
    cases = tiny_cases(A)
    for seed in range(200, 400):
        model = seeded_model(cfg, seed)
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(2, 1, 32, 32, generator=g)
        checks = Checks()
        with torch.no_grad():
            fit_codebooks(model, model.encode(x), g, 1.5)
            scale_causal(model.ct_layer, CT_TINY_SCALE)
            rec = {}
            codes, marg = vq_outputs(model, x, rec)
            checks.see("argmin", marg)
            nodes = model.codes_to_nodes(codes)
            center_biases(model.ct_layer, nodes)
            runner = CTRunner(model.ct_layer, checks)
            causal_outputs(model, runner, nodes, cases, g, rec)
            whole_model_outputs(model, runner, nodes, hw, range(A), rec)
            retrieval_outputs(model, runner, x[[0, 1, 0]], x[[1, 0, 0]], rec, checks)
        masks = torch.cat([rec["io.ct.a%d.mask" % a] for a in range(A)])
        adj = rec["io.ct.base.adj"]
        varied = (0.2 < mix(masks) < 0.8 and 0.2 < mix(adj) < 0.8
                  and len(set(nodes.flatten().tolist())) >= 4)
        if checks.ok() and varied:
            break
    else:
        raise SystemExit("ctvae_tiny: no seed without near-ties")
    rec["io.pe"] = model.ct_layer.pos_encoding.pe[:64]
    t = dict(model.state_dict())
    t.update(rec)
    meta = {"config": json.dumps(cfg), "weights": "stored", "seed": seed,
            "ct_cases": json.dumps(cases), "actions_tested": json.dumps(list(range(A))),
            "causal_scale": json.dumps(CT_TINY_SCALE), "min_margins": checks.meta()}
    print("ctvae_tiny: seed %d masks %.2f edges %.2f margins %s" % (seed, mix(masks), mix(adj), checks.meta()))
    write("ctvae_tiny.safetensors", t, meta)


# ---------------------------------------------------------------- default config, formula weights

CT_DEFAULT = dict(in_channels=3, img_size=64, hidden_dims=[64, 128, 256], embedding_dim=128,
                  num_embeddings=64, codebooks=1, residual_layers=6, action_dim=12,
                  causal_hidden_dims=[800, 100])
VQ_KEYS = ["in_channels", "img_size", "hidden_dims", "embedding_dim", "num_embeddings",
           "codebooks", "residual_layers"]
# With PyTorch's default bounds the deep encoder contracts its input so much
# that z_e barely varies across positions (std 3e-4 around 0.02) and every
# position picks one code. Encoder weight bounds x4 and a codebook bound of 0.2
# give 13 distinct codes with argmin margins > 1e-4 on the test image.
ENC_GAIN = 4.0
CODEBOOK_BOUND = 0.2
DISC_GAIN = 150.0  # discoverers' last weights: spread p over (0,1)
MASK_GAIN = 8.0
DEFAULT_ACTIONS = [0, 5, 11]


def formula_constant(name, i=0):
    """The unit-bound formula value of element i: 2u - 1 in float64."""
    return 2 * (((i * 2654435761 + fnv1a32(name)) % 2 ** 32) / 2 ** 32) - 1


def default_bounds(model):
    """Chooses every scaled bound of the default golden: encoder and codebook
    for varied codes, discoverer/mask gains for spread probabilities, and the
    discoverer/mask bias bounds so that p = 0.5 falls in a wide gap of the
    values these inputs produce (the formula fixes each bias up to its bound)."""
    cfg = CT_DEFAULT
    sd = model.state_dict()
    scale = {k: ENC_GAIN for k in sd if k.startswith("encoder") and k.endswith("weight")}
    override = {"vq_layer.quantizers.0.embedding.weight": CODEBOOK_BOUND}
    A = cfg["action_dim"]
    for k in range(A + 1):
        scale["ct_layer.graph_discovers.%d.2.weight" % k] = DISC_GAIN
    scale["ct_layer.mask.0.weight"] = MASK_GAIN
    state, _, _ = formula_state(model, cfg, scale, override)
    model.load_state_dict(state)
    ct = model.ct_layer
    x, x2 = pick_images(model)
    codes, _, _ = model.vq_layer(model.encode(x))
    nodes = model.codes_to_nodes(codes)
    for k in range(A + 1):
        name = "ct_layer.graph_discovers.%d.2.bias" % k
        c = formula_constant(name)
        # The bias is c*s: any shift is reachable with a signed bound s.
        mid, _ = central_gap(discoverer_preact(ct, k, nodes), 0.25, 0.75)
        override[name] = -mid / c
    v, cs = mask_preact(ct, nodes)
    cvec = torch.tensor([formula_constant("ct_layer.mask.0.bias", i) for i in range(ct.d)])
    best = (-1.0, 0.0)
    wb = 1 / math.sqrt(A + ct.d)
    for j in range(1, 401):
        s = wb * 8 * j / 400
        logit = v + (cvec[cs] * s).float()
        frac = float((logit > 0).float().mean())
        if 0.2 < frac < 0.8:
            best = max(best, (float(logit.abs().min()), s))
    override["ct_layer.mask.0.bias"] = best[1]
    return scale, override, x, x2


def pick_images(model):
    """Two smooth test images whose codes are varied and free of argmin near-ties."""
    for seed in range(64, 200):
        g = torch.Generator().manual_seed(seed)
        imgs = smooth_images(2, 3, 64, g)
        codes, _, marg = model.vq_layer(model.encode(imgs))
        if float(marg.min()) > TIE_REL and len(set(codes[0].flatten().tolist())) >= 8:
            return imgs[:1], imgs[1:]
    raise SystemExit("default: no test image without argmin near-ties")


def gen_default():
    cfg = CT_DEFAULT
    A = cfg["action_dim"]
    g = torch.Generator().manual_seed(64)
    model = seeded_model(cfg, 0)
    checks = Checks()
    with torch.no_grad():
        scale, override, x, x2 = default_bounds(model)
        state, bounds, shapes = formula_state(model, cfg, scale, override)
        model.load_state_dict(state)
        rec = {}
        codes, marg = vq_outputs(model, x, rec, per_layer=False)
        checks.see("argmin", marg)
        vq_rec = dict(rec)
        nodes = model.codes_to_nodes(codes)
        runner = CTRunner(model.ct_layer, checks)
        cases = [{"name": "base", "action": -1, "sampling": "mode"}]
        cases += [{"name": "a%d" % a, "action": a, "sampling": "mode"} for a in DEFAULT_ACTIONS]
        causal_outputs(model, runner, nodes, cases, g, rec)
        whole_model_outputs(model, runner, nodes, (8, 8), DEFAULT_ACTIONS, rec)
        retrieval_outputs(model, runner, torch.cat([x, x]), torch.cat([x2, x]), rec, checks)
    # gat0 ([1,65,1300] per case) is left out to keep the file small.
    rec = {k: v for k, v in rec.items() if not k.endswith(".gat0")}
    rec["io.pe"] = model.ct_layer.pos_encoding.pe[:64]
    masks = torch.cat([rec["io.ct.a%d.mask" % a] for a in DEFAULT_ACTIONS])
    print("default: codes used %d masks %.2f edges %.2f margins %s" % (
        len(set(nodes.flatten().tolist())), mix(masks), mix(rec["io.ct.base.adj"]), checks.meta()))
    if not checks.ok():
        print("default: WARNING near-ties, recorded in metadata min_margins")
    vq_names = [k for k in shapes if not k.startswith("ct_layer")]
    vq_cfg = {k: cfg[k] for k in VQ_KEYS}
    write("vqvae_default.safetensors", vq_rec, {
        "config": json.dumps(vq_cfg), "weights": "formula",
        "weight_bounds": json.dumps({k: bounds[k] for k in sorted(vq_names)}),
        "weight_shapes": json.dumps({k: shapes[k] for k in sorted(vq_names)}),
        "min_argmin_margin": "%.3g" % marg})
    write("ctvae_default.safetensors", rec, {
        "config": json.dumps(cfg), "weights": "formula",
        "weight_bounds": json.dumps({k: bounds[k] for k in sorted(bounds)}),
        "weight_shapes": json.dumps({k: shapes[k] for k in sorted(shapes)}),
        "ct_cases": json.dumps(cases), "actions_tested": json.dumps(DEFAULT_ACTIONS),
        "min_margins": checks.meta()})


if __name__ == "__main__":
    os.makedirs(OUTDIR, exist_ok=True)
    gen_vqvae_tiny()
    gen_ctvae_tiny()
    gen_default()
