"""Training-step goldens: PyTorch autograd losses and gradients of the causal
layer (base, action and causal batches) and of one VQ-VAE phase step, on tiny
configs, for train/golden_train_test.go.

Run from the repository root with Debian's torch (`make goldens` runs it after
gen.py):

    /usr/bin/python3 internal/golden/gen_train.py           # writes testdata/train_step.safetensors
    /usr/bin/python3 internal/golden/gen_train.py --check   # regenerate in memory, compare bytes

The model is gen.py's (CTLayer with its discoverers, mask and written-out
GATv2; the VQ-VAE's encoder, quantizer and decoder): gen.py has inference
forwards only, so the training forward is written here from docs/MODEL.md
("Causal transition layer", "Losses (training)") and the official training
code, with every random number injected from stored arrays so that the Go
trainer can replay the same pass:

  features   x = (one_hot + pe) * keep_x / (1 - p)          Dropout, p = 0.1
  mask       p_i = sigmoid(mask([a ; pe * keep_m / (1 - p)]))[code_i]
             m = hard Gumbel sample of Bernoulli(p) with noise g_mask
  graph      Adj = m_i * D_{1+a}(x_i, x_j) + (1 - m_i) * D_0(x_i, x_j)
             G = hard Gumbel sample of Bernoulli(Adj) with noise g_adj
             W = Adj * G, padded with the action node (gen.py's convention)
  GATv2 x2   gen.py's dense GATv2 on W
  heads      logits = m * head_{1+a} + (1 - m) * head_0, q = softmax

Hard Gumbel samples are torch's gumbel_softmax(hard=True, tau=1) with its
noise passed in: logits l = log(clamp([1 - p, p], 1e-4)), y_soft =
softmax(l + g), y = one_hot(argmax y_soft) - y_soft.detach() + y_soft; the
script checks that this equals F.gumbel_softmax under the same RNG state,
values and gradients. The noise g = -log(Exponential(1)) is drawn the way
gumbel_softmax draws it, and dropout keep masks with F.dropout; both are
rounded to float32 for storage and the forward uses the rounded values.
Everything is computed in float64 (weights are float32 values upcast), so
the Go trainer, also float64, should agree to rounding.

Losses (per sample, the batch loss is their mean; MODEL.md "Losses"):
  base    gamma * (CE(q, x) + c_alpha * (CE(GNN on the identity graph, x) + MSE(G, I)))
          the identity-graph GNN is gen.py's GATv2 on the padded identity
          adjacency (the official _compute_y call), not the reduced form
  action  gamma * (CE(q, y) + c_beta * KL(softmax(U) || softmax(vec Adj))
          + c_delta * ||G||_F + c_epsilon * ||prod_j (1 - Adj_ij)||_2)
          (F.kl_div(log_softmax, softmax(U), 'batchmean'), U the stored uniforms)
  causal  CE(softmin_b CE(CT(x, b), y), a), one pass (own noise) per action b
where CE(q, t) = F.cross_entropy(log(clamp(q, 1e-4)), t), the official
re-normalised form.

Stored (F32; float64 values as hi + lo pairs, hi = float32(v),
lo = float32(v - hi), about 48 bits):
  ct_layer.*                   weights (no a_dense: it never reaches a latent
                               output; the script asserts its gradient is 0;
                               no pe buffer: io.ct.pe [n, d] holds its rows)
  io.ct.pe                     [n, d]
  io.ct.{mode}.x, .y, .action  [B, n], [B, n], [B] (base: y = x, action -1)
  io.ct.{mode}.keep_x, keep_m  [B, P, n, d] 0/1 (P passes per sample: 1, or A
                               for the causal mode, pass b = action b)
  io.ct.{mode}.g_mask          [B, P, n, 2] Gumbel noise of [1 - p, p]
  io.ct.{mode}.g_adj           [B, P, n, n, 2]
  io.ct.{mode}.u_kl            [B, P, n, n] uniforms of the KL target
  io.ct.{mode}.loss{,_lo}      [] the batch loss
  io.ct.{mode}.ce{,_lo}        [B] per-sample CE (causal: the per-sample loss)
  io.ct.{mode}.grad.NAME{,_lo} gradient of the batch loss for every ct_layer tensor
  io.ct.{mode}.masked          [B, P] number of masked nodes (diagnostics)
VQ-VAE phase step (config VQ below, batch 2, float64 from float32 weights):
  loss = MSE(decode(z_e + sg(z_q - z_e)), x) + beta * MSE(sg(z_q), z_e) + MSE(z_q, sg(z_e))
  encoder.*, vq_layer.*, decoder.*  weights (official state_dict names)
  io.vq.x [B, C, S, S], io.vq.codes [B, 1, h, w]
  io.vq.loss{,_lo}, io.vq.recon_mse{,_lo}, io.vq.vq_mse{,_lo}   []
  io.vq.grad.NAME              gradient of every VQ-VAE tensor (float32: the Go
                               side is float32)
Metadata: ct_config, ct_losses, dropout, ct_seed, ct_min_margins (gumbel:
|(l1+g1)-(l0+g0)|, clamp: |v - 1e-4| / 1e-4 over every clamped value), vq_config,
vq_beta, vq_seed, vq_min_margins (argmin as gen.py; kink: min |ReLU input| /
its layer's max).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402  (the generator's model classes; importing it writes nothing)
import safetensors_io  # noqa: E402

torch.set_num_threads(1)

# Tiny causal config: n nodes, node dim d, A actions, hidden [h0, h1].
CT = dict(nodes=7, node_dim=6, action_dim=4, causal_hidden_dims=[6, 3])
# Loss weights larger than the official ones (c_alpha 0.01, c_delta 0.01,
# c_epsilon 0.1) so that every term moves the gradients visibly.
LOSSES = dict(gamma=1.5, c_alpha=0.5, c_beta=0.4, c_delta=0.3, c_epsilon=0.7)
DROPOUT = 0.1
BATCH = 2
CLAMP = 1e-4
# Every hard Gumbel decision must clear this margin on |(l1 + g1) - (l0 + g0)|
# and every clamped value |v - 1e-4| / 1e-4, so that float64 rounding on
# either side cannot flip it.
MARGIN = 1e-3


def split(v):
    """float64 tensor -> (hi, lo) float32 arrays with hi + lo ~ v (48 bits)."""
    a = v.detach().double().numpy()
    hi = a.astype(np.float32)
    lo = (a - hi.astype(np.float64)).astype(np.float32)
    return hi, lo


# ---------------------------------------------------------------- noise and sampling

def draw_gumbel(shape, gen_):
    """Gumbel noise as F.gumbel_softmax draws it: -log(Exponential(1))."""
    return -torch.empty(shape, dtype=torch.float64).exponential_(generator=gen_).log()


def hard_gumbel(p, g):
    """torch's gumbel_softmax(log(clamp([1-p, p], 1e-4)), tau=1, hard=True)[..., 1]
    with its Gumbel noise g [..., 2] given."""
    logits = torch.log(torch.clamp(torch.stack([1 - p, p], -1), min=CLAMP))
    y_soft = torch.softmax(logits + g, -1)
    index = y_soft.max(-1, keepdim=True)[1]
    y_hard = torch.zeros_like(logits).scatter_(-1, index, 1.0)
    return (y_hard - y_soft.detach() + y_soft)[..., 1], (logits + g).detach()


def check_hard_gumbel():
    """hard_gumbel with the noise gumbel_softmax would draw equals gumbel_softmax."""
    p0 = torch.rand(50, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    outs = []
    for own in (False, True):
        p = p0.clone().requires_grad_(True)
        torch.manual_seed(1234)
        logits = torch.log(torch.clamp(torch.stack([1 - p, p], -1), min=CLAMP))
        if own:
            g = -torch.empty_like(logits).exponential_().log()
            y, _ = hard_gumbel(p, g)
        else:
            y = F.gumbel_softmax(logits, tau=1, hard=True)[..., 1]
        (y * torch.arange(50, dtype=torch.float64)).sum().backward()
        outs.append((y.detach(), p.grad))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1]), \
        "hard_gumbel differs from F.gumbel_softmax"


def draw_pass(n, d, gen_):
    """The random numbers of one training pass (float32-rounded, as stored)."""
    ones = torch.ones(2, n, d)
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=gen_)))
    keep = (F.dropout(ones, DROPOUT, training=True) != 0).double()
    g_mask = draw_gumbel((n, 2), gen_).float().double()
    g_adj = draw_gumbel((n, n, 2), gen_).float().double()
    u_kl = torch.rand(n, n, generator=gen_).double()
    return dict(keep_x=keep[0], keep_m=keep[1], g_mask=g_mask, g_adj=g_adj, u_kl=u_kl)


class Margins:
    def __init__(self):
        self.m = {"gumbel": math.inf, "clamp": math.inf}

    def gumbel(self, z):
        z = z.reshape(-1, 2)
        self.m["gumbel"] = min(self.m["gumbel"], float((z[:, 1] - z[:, 0]).abs().min()))

    def clamp(self, v):
        self.m["clamp"] = min(self.m["clamp"], float(((v.detach() - CLAMP).abs() / CLAMP).min()))


# ---------------------------------------------------------------- causal layer, training forward

def ct_train(ct, codes, action, nz, marg):
    """One training pass of gen.CTLayer (float64) on one graph with injected
    noise nz. Returns q [n, d], G, Adj, x, m."""
    n, d, A = codes.shape[0], ct.d, ct.A
    scale = 1 / (1 - DROPOUT)
    pe = ct.pos_encoding.pe[:n, 0]
    x = (F.one_hot(codes, d).double() + pe) * nz["keep_x"] * scale
    avec = torch.zeros(A, dtype=torch.float64)
    adj0 = ct.discover(0, x)
    if action < 0:
        m = torch.zeros(n, dtype=torch.float64)
        adj = adj0
    else:
        avec[action] = 1
        mp = ct.mask(torch.cat([avec.expand(n, A), pe * nz["keep_m"] * scale], -1))
        p = (F.one_hot(codes, d).double() * mp).sum(-1)  # the official gather
        marg.clamp(p)
        marg.clamp(1 - p)
        m, z = hard_gumbel(p, nz["g_mask"])
        marg.gumbel(z)
        mi = m.unsqueeze(1)
        adj = mi * ct.discover(1 + action, x) + (1 - mi) * adj0
    marg.clamp(adj)
    marg.clamp(1 - adj)
    g, z = hard_gumbel(adj, nz["g_adj"])
    marg.gumbel(z)
    w = adj * g
    q = transition(ct, x, avec, w, m, action)
    return q, g, adj, x, m


def transition(ct, x, avec, w, m, action):
    """The GATv2 stack on the weighted graph w [n, n] padded with the action
    node (a column of ones, a zero row), then head selection and softmax."""
    n, d, A = x.shape[0], ct.d, ct.A
    wp = torch.cat([torch.cat([w, torch.ones(n, 1, dtype=w.dtype)], 1),
                    torch.zeros(1, n + 1, dtype=w.dtype)], 0)
    xp = torch.cat([x, ct.a_dense(avec).unsqueeze(0)], 0)
    gt = ct.graph_transitioner
    o = gt.module_2(gt.module_1(gt.module_0(xp, wp)), wp)[:n].view(n, A + 1, d)
    mi = m.unsqueeze(1)
    logits = o[:, 0] * (1 - mi) + o[:, 1 + max(action, 0)] * mi
    return torch.softmax(logits, -1)


def ce(q, target, marg):
    """The official re-normalised CE: F.cross_entropy(log(clamp(q, 1e-4)), t)."""
    marg.clamp(q)
    return F.cross_entropy(torch.log(torch.clamp(q, min=CLAMP)), target)


def base_ct(ct, cx, nz, marg):
    q, g, _, x, _ = ct_train(ct, cx, -1, nz, marg)
    n = cx.shape[0]
    eye = torch.eye(n, dtype=torch.float64)
    qi = transition(ct, x, torch.zeros(ct.A, dtype=torch.float64), eye, torch.zeros(n, dtype=torch.float64), -1)
    c = ce(q, cx, marg)
    L = LOSSES
    return c, c + L["c_alpha"] * (ce(qi, cx, marg) + F.mse_loss(g, eye)), 0


def action_ct(ct, cx, cy, a, nz, marg):
    q, g, adj, _, m = ct_train(ct, cx, a, nz, marg)
    t = torch.softmax(nz["u_kl"].reshape(1, -1), -1)
    kl = F.kl_div(F.log_softmax(adj.reshape(1, -1), -1), t, reduction="batchmean")
    c = ce(q, cy, marg)
    L = LOSSES
    reg = L["c_beta"] * kl + L["c_delta"] * torch.linalg.matrix_norm(g) + \
        L["c_epsilon"] * torch.linalg.vector_norm(torch.prod(1 - adj, -1))
    return c, c + reg, int(m.sum())


def causal_loss(ct, cx, cy, a, nzs, marg):
    dist, masked = [], []
    for b in range(ct.A):
        q, _, _, _, m = ct_train(ct, cx, b, nzs[b], marg)
        dist.append(ce(q, cy, marg))
        masked.append(int(m.sum()))
    P = F.softmin(torch.stack(dist), -1)
    return ce(P.view(1, -1), torch.tensor([a]), marg), masked


def random_ct(seed):
    """gen.CTLayer with every weight uniform(-1, 1) (wider than PyTorch's init,
    so that probabilities spread over (0, 1) and both mask outcomes occur),
    float32 values, then float64."""
    torch.manual_seed(seed)
    ct = gen.CTLayer(CT["node_dim"], CT["action_dim"], *CT["causal_hidden_dims"])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in ct.named_parameters():
            t.copy_(torch.rand(t.shape, generator=g) * 2 - 1)
    return ct.double()


def ct_names(ct):
    return [k for k, _ in ct.named_parameters() if not k.startswith("a_dense.")]


def gen_causal(rec):
    n, d, A = CT["nodes"], CT["node_dim"], CT["action_dim"]
    L = LOSSES
    for seed in range(1, 200):
        ct = random_ct(seed)
        g = torch.Generator().manual_seed(1000 + seed)
        marg = Margins()
        out, ok = {}, True
        for mode in ("base", "action", "causal"):
            x = torch.randint(0, d, (BATCH, n), generator=g)
            y = x.clone() if mode == "base" else torch.randint(0, d, (BATCH, n), generator=g)
            if mode != "base":
                y[:, ::3] = x[:, ::3]  # some nodes unchanged
            acts = torch.tensor([-1] * BATCH) if mode == "base" else torch.randperm(A, generator=g)[:BATCH]
            P = A if mode == "causal" else 1
            nzs = [[draw_pass(n, d, g) for _ in range(P)] for _ in range(BATCH)]
            ct.zero_grad(set_to_none=True)
            total, ces, masked = 0, [], []
            for b in range(BATCH):
                if mode == "base":
                    c, l, mk = base_ct(ct, x[b], nzs[b][0], marg)
                    l = L["gamma"] * l
                elif mode == "action":
                    c, l, mk = action_ct(ct, x[b], y[b], int(acts[b]), nzs[b][0], marg)
                    l = L["gamma"] * l
                else:
                    l, mk = causal_loss(ct, x[b], y[b], int(acts[b]), nzs[b], marg)
                    c = l
                total = total + l / BATCH
                ces.append(c.detach())
                masked.append(mk if isinstance(mk, list) else [mk])
            total.backward()
            grads = {k: t.grad.detach().clone() if t.grad is not None else torch.zeros_like(t)
                     for k, t in ct.named_parameters()}
            for k in ("a_dense.weight", "a_dense.bias"):
                assert not grads[k].any(), "a_dense got a gradient"
            if mode != "base":
                mk = torch.tensor(masked)
                # Both mask outcomes in every sample (causal: over its passes).
                ok = ok and bool((mk.sum(1) > 0).all() and (mk.sum(1) < n * mk.shape[1]).all())
            out[mode] = dict(x=x, y=y, acts=acts, nzs=nzs, loss=total.detach(), ce=torch.stack(ces),
                             grads=grads, masked=torch.tensor(masked))
        if ok and marg.m["gumbel"] > MARGIN and marg.m["clamp"] > MARGIN:
            break
    else:
        raise SystemExit("gen_train: no seed with clear margins")
    sd = ct.state_dict()
    for k in ct_names(ct):
        rec["ct_layer." + k] = sd[k].float()
    rec["io.ct.pe"] = sd["pos_encoding.pe"][:n, 0].float()
    for mode, o in out.items():
        pre = "io.ct.%s." % mode
        rec[pre + "x"], rec[pre + "y"], rec[pre + "action"] = o["x"], o["y"], o["acts"]
        for key in ("keep_x", "keep_m", "g_mask", "g_adj", "u_kl"):
            rec[pre + key] = torch.stack([torch.stack([nz[key] for nz in s]) for s in o["nzs"]]).float()
        rec[pre + "loss"], rec[pre + "loss_lo"] = split(o["loss"])
        rec[pre + "ce"], rec[pre + "ce_lo"] = split(o["ce"])
        rec[pre + "masked"] = o["masked"]
        for k in ct_names(ct):
            rec[pre + "grad.ct_layer." + k], rec[pre + "grad_lo.ct_layer." + k] = split(o["grads"][k])
        print("causal %-6s loss %.6f masked %s" % (mode, float(o["loss"]), o["masked"].tolist()))
    print("causal: seed %d margins %s" % (seed, marg.m))
    return {"ct_config": json.dumps(CT), "ct_losses": json.dumps(LOSSES), "dropout": repr(DROPOUT),
            "ct_seed": seed, "ct_min_margins": json.dumps({k: float("%.3g" % v) for k, v in marg.m.items()})}


# ---------------------------------------------------------------- VQ-VAE phase step

# Tiny VQ-VAE (codebooks 1, as the trainer requires): latent 4x4, 5 codes of 3 dims.
VQ = dict(in_channels=2, img_size=16, hidden_dims=[4, 6], embedding_dim=3, num_embeddings=5,
          codebooks=1, residual_layers=1)
VQ_BETA = 0.25
VQ_BATCH = 2
# Every ReLU/LeakyReLU input must be this far from 0 relative to its layer's
# largest magnitude, so that the Go trainer's float32 forward cannot take the
# other branch of a kink.
KINK = 1e-4


def gen_vqvae_step(rec):
    """One VQ-VAE phase step (MODEL.md "Losses"): loss = MSE(decode(z_e +
    sg(z_q - z_e)), x) + beta * MSE(sg(z_q), z_e) + MSE(z_q, sg(z_e)), float64
    from float32 weights and images; gradients of every VQ-VAE tensor."""
    for seed in range(500, 700):
        torch.manual_seed(seed)
        model = gen.CTVAE(VQ)
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(VQ_BATCH, VQ["in_channels"], VQ["img_size"], VQ["img_size"], generator=g)
        with torch.no_grad():
            gen.fit_codebooks(model, model.encode(x), g, 1.5)
        model = model.double()
        kink = [math.inf]

        def hook(_m, inp, _out):
            v = inp[0].detach().abs()
            kink[0] = min(kink[0], float(v.min() / v.max()))
        hooks = [m.register_forward_hook(hook) for m in model.modules()
                 if isinstance(m, (torch.nn.LeakyReLU, torch.nn.ReLU))]
        xd = x.double()
        ze = model.encode(xd)
        codes, zq, marg = model.vq_layer(ze)
        recon = model.decode(ze + (zq - ze).detach())
        for h in hooks:
            h.remove()
        mse = F.mse_loss(zq.detach(), ze)
        loss = F.mse_loss(recon, xd) + VQ_BETA * mse + F.mse_loss(zq, ze.detach())
        used = len(set(codes.flatten().tolist()))
        if float(marg.min()) > gen.TIE_REL and kink[0] > KINK and used >= 4:
            break
    else:
        raise SystemExit("gen_train: no VQ-VAE seed without near-ties")
    model.zero_grad(set_to_none=True)
    loss.backward()
    for k, t in model.state_dict().items():
        rec[k] = t.float()
    for k, t in model.named_parameters():
        rec["io.vq.grad." + k] = t.grad.float()
    rec["io.vq.x"] = x
    rec["io.vq.codes"] = codes
    rec["io.vq.loss"], rec["io.vq.loss_lo"] = split(loss)
    rec["io.vq.recon_mse"], rec["io.vq.recon_mse_lo"] = split(F.mse_loss(recon, xd))
    rec["io.vq.vq_mse"], rec["io.vq.vq_mse_lo"] = split(mse)
    print("vqvae: seed %d loss %.6f codes used %d argmin margin %.3g kink %.3g" % (
        seed, float(loss), used, float(marg.min()), kink[0]))
    return {"vq_config": json.dumps(VQ), "vq_beta": repr(VQ_BETA), "vq_seed": seed,
            "vq_min_margins": json.dumps({"argmin": float("%.3g" % float(marg.min())),
                                          "kink": float("%.3g" % kink[0])})}


# ---------------------------------------------------------------- output

write = gen.write  # same OUTDIR, same --check comparison


if __name__ == "__main__":
    check_hard_gumbel()
    rec = {}
    meta = gen_causal(rec)
    meta.update(gen_vqvae_step(rec))
    write("train_step.safetensors", rec, meta)
