"""Training-speed peer: a straightforward PyTorch CPU training step of the
CT-VAE, per phase and per causal batch mode, to compare with the Go trainer's
benchmarks (train/bench_test.go, BenchmarkTrainSpeed). Not a test.

Run from the repository root with Debian's torch and OpenBLAS (DESIGN.md:
Debian's torch links the slow reference BLAS unless OpenBLAS provides
libblas.so.3; LD_LIBRARY_PATH selects it for this process only):

    apt-get install -y python3-torch libopenblas0-pthread
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread \
    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 \
      /usr/bin/python3 internal/golden/bench_train.py [--rounds 5] [--only shipped/vqvae,...] \
      [--out internal/golden/testdata/bench_train_torch.json]

The model is the generator script's (gen.py: CTVAE, its encoder, quantizer,
decoder, CTLayer with its discoverers, mask and written-out GATv2). gen.py has
inference forwards only, so the training forward of the causal layer is
written here from docs/MODEL.md, the way the official code trains:
Dropout(0.1) on one-hot + pe and on the mask's pe input, hard Gumbel samples
with straight-through gradients (F.gumbel_softmax(hard=True)) for the mask
and the graph, every discoverer over all n^2 ordered pairs, one graph at a
time, and a causal batch runs one full CT pass per action.

What one step is (both sides do the same work):
  vqvae   batch 32 images: encode, quantize, decode, MSE + both VQ terms
          (straight-through), backward, Adam over all VQ-VAE tensors.
  base    batch B: frozen VQ-VAE encode (no grad), per sample CT(x) with
          CE + c_alpha (identity-graph GNN CE + MSE(G, I)), backward, Adam
          over ct_layer.
  action  batch B pairs: frozen encode of x and y, CE(CT(x, a), y) + c_beta KL
          + c_delta |G| + c_epsilon |prod(1 - Adj)|, backward, Adam.
  causal  batch B pairs: frozen encode of x and y, A CT passes per sample,
          CE over softmin of the A distances, backward, Adam.
The recon/vq terms of the causal phase carry no gradient into ct_layer (the
CT codes are an argmax through a frozen VQ-VAE); neither side computes them.
Images are random uniform [0,1] tensors (the Go benchmark renders its
dataset's images, which costs it a little extra). Weights: PyTorch's default
initialisation (seeded); the Go side uses its own PyTorch-style init.
Reports samples/s (images/s for vqvae and base, pairs/s for action and
causal) as the median over rounds, with wall and process-CPU seconds.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402  (the generator's model classes; importing it writes nothing)

THREADS = 2
torch.set_num_threads(THREADS)  # gen.py sets 1 for determinism; the peer uses both cores

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOSS = dict(gamma=1.5, c_alpha=0.01, c_beta=0.4, c_delta=0.01, c_epsilon=0.1, beta=0.25)
DROPOUT = 0.1


def shipped_config():
    with open(os.path.join(ROOT, "weights", "pretrained", "dsprites.json")) as f:
        return json.load(f)


# Batch sizes per case: vqvae 32 images (issue 5); causal modes 16 (the
# paper's per-GPU batch) at the shipped config; at the default config a
# causal batch is 2 pairs (one per core on the Go side), since one PyTorch
# step of 16 would take about a minute.
CASES = {
    "shipped": dict(cfg=shipped_config, batch=dict(vqvae=32, base=16, action=16, causal=16)),
    "default": dict(cfg=lambda: dict(gen.CT_DEFAULT), batch=dict(vqvae=32, base=16, action=16, causal=2)),
}


# ---------------------------------------------------------------- causal layer, training forward

def hard_gumbel(p):
    """Straight-through hard Gumbel sample of Bernoulli(p) (MODEL.md)."""
    logits = torch.log(torch.clamp(torch.stack([1 - p, p], -1), min=1e-4))
    return F.gumbel_softmax(logits, tau=1, hard=True)[..., 1]


def ce_renorm(q, target):
    """MODEL.md's re-normalised CE: mean_i log(sum_k clamp q) - log clamp q[y_i]."""
    c = torch.clamp(q, min=1e-4)
    return (torch.log(c.sum(-1)) - torch.log(c.gather(-1, target.view(-1, 1))[:, 0])).mean()


def ct_train(ct, codes, action):
    """One training pass of gen.CTLayer on one graph: codes [n] long, action -1
    (base) or a. Returns probs [n,d], sampled graph G, adjacency Adj, features x."""
    n, d, A = codes.shape[0], ct.d, ct.A
    pe = ct.pos_encoding.pe[:n, 0]
    x = F.dropout(F.one_hot(codes, d).float() + pe, DROPOUT, training=True)
    avec = torch.zeros(A)
    adj0 = ct.discover(0, x)
    if action < 0:
        m = torch.zeros(n)
        adj = adj0
    else:
        avec[action] = 1
        mp = ct.mask(torch.cat([avec.expand(n, A), F.dropout(pe, DROPOUT, training=True)], -1))
        m = hard_gumbel(mp.gather(1, codes.view(n, 1))[:, 0])
        mi = m.unsqueeze(1)
        adj = mi * ct.discover(1 + action, x) + (1 - mi) * adj0
    g = hard_gumbel(adj)
    w = adj * g
    # Action node n: a column of ones (every latent -> n) and a zero row.
    wp = torch.cat([torch.cat([w, torch.ones(n, 1)], 1), torch.zeros(1, n + 1)], 0)
    xp = torch.cat([x, ct.a_dense(avec).unsqueeze(0)], 0)
    gt = ct.graph_transitioner
    o = gt.module_2(gt.module_1(gt.module_0(xp, wp)), wp)[:n].view(n, A + 1, d)
    logits = o[:, 1 + max(action, 0)] * m.unsqueeze(1) + o[:, 0] * (1 - m.unsqueeze(1))
    return torch.softmax(logits, -1), g, adj, x


def base_loss(ct, cx):
    q, g, _, x = ct_train(ct, cx, -1)
    n = cx.shape[0]
    # The identity-graph GNN: each node's only edge is its own loop, so the
    # attention is 1 and GATv2 is lin_l + bias (MODEL.md). PyG's edge-list
    # GATv2 does this much work on n loops; the dense GATv2 of gen.py would
    # spend a whole n x n pass on it, so it is written out here.
    gt = ct.graph_transitioner
    g0, g2 = gt.module_0, gt.module_2
    ident = g2.lin_l(gt.module_1(g0.lin_l(x) + g0.bias)) + g2.bias
    qi = torch.softmax(ident.view(n, ct.A + 1, ct.d)[:, 0], -1)
    reg = ce_renorm(qi, cx) + F.mse_loss(g, torch.eye(n))
    return LOSS["gamma"] * (ce_renorm(q, cx) + LOSS["c_alpha"] * reg)


def action_loss(ct, cx, cy, a):
    q, g, adj, _ = ct_train(ct, cx, a)
    t = torch.softmax(torch.rand(adj.numel()), 0)
    kl = F.kl_div(F.log_softmax(adj.reshape(1, -1), -1), t.view(1, -1), reduction="batchmean")
    reg = LOSS["c_beta"] * kl + LOSS["c_delta"] * torch.norm(g) + \
        LOSS["c_epsilon"] * torch.norm(torch.prod(1 - adj, 1))
    return LOSS["gamma"] * (ce_renorm(q, cy) + reg)


def causal_loss(ct, cx, cy, a):
    dist = torch.stack([ce_renorm(ct_train(ct, cx, b)[0], cy) for b in range(ct.A)])
    p = torch.softmax(-dist, 0)
    return ce_renorm(p.view(1, -1), torch.tensor([a]))


# ---------------------------------------------------------------- steps

def vqvae_step(model, opt, x):
    ze = model.encode(x)
    _, zq, _ = model.vq_layer(ze)
    vq = LOSS["beta"] * F.mse_loss(zq.detach(), ze) + F.mse_loss(zq, ze.detach())
    recon = model.decode(ze + (zq - ze).detach())
    loss = F.mse_loss(recon, x) + vq
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def encode_codes(model, x):
    with torch.no_grad():
        codes, _, _ = model.vq_layer(model.encode(x))
    return model.codes_to_nodes(codes)


def causal_step(model, opt, mode, x, y, actions):
    ct = model.ct_layer
    cx = encode_codes(model, x)
    cy = cx if mode == "base" else encode_codes(model, y)
    loss = 0
    for i in range(cx.shape[0]):
        if mode == "base":
            loss = loss + base_loss(ct, cx[i])
        elif mode == "action":
            loss = loss + action_loss(ct, cx[i], cy[i], int(actions[i]))
        else:
            loss = loss + causal_loss(ct, cx[i], cy[i], int(actions[i]))
    loss = loss / cx.shape[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def bench(step, batch, warmup, rounds, min_seconds):
    for _ in range(warmup):
        step()
    rates, cpus, steps = [], [], []
    for _ in range(rounds):
        k, w0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            step()
            k += 1
            if time.perf_counter() - w0 >= min_seconds:
                break
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rates.append(k * batch / wall)
        cpus.append(cpu / (k * batch))
        steps.append(k)
    return {"batch": batch, "samples_per_s": statistics.median(rates), "rounds": [round(r, 4) for r in rates],
            "steps_per_round": steps, "cpu_s_per_sample": statistics.median(cpus),
            "cpu_rounds": [round(c, 5) for c in cpus]}


def run_case(name, mode, rounds, min_seconds):
    spec = CASES[name]
    cfg = spec["cfg"]()
    batch = spec["batch"][mode]
    torch.manual_seed(1)
    model = gen.CTVAE(cfg)
    g = torch.Generator().manual_seed(2)
    c, s = cfg["in_channels"], cfg["img_size"]
    x = torch.rand(batch, c, s, s, generator=g)
    y = torch.rand(batch, c, s, s, generator=g)
    actions = torch.randint(0, cfg["action_dim"], (batch,), generator=g)
    if mode == "vqvae":
        model.train()
        opt = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("ct_layer")], lr=5e-4)
        step = lambda: vqvae_step(model, opt, x)  # noqa: E731
    else:
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith("ct_layer"))
        opt = torch.optim.Adam(model.ct_layer.parameters(), lr=5e-4)
        step = lambda: causal_step(model, opt, mode, x, y, actions)  # noqa: E731
    r = bench(step, batch, warmup=2 if (name, mode) == ("shipped", "vqvae") else 1, rounds=rounds, min_seconds=min_seconds)
    r["config"] = cfg
    return r


def blas_libs():
    with open("/proc/self/maps") as f:
        return sorted({ln.split()[-1] for ln in f if "blas" in ln.lower()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=3.0, help="wall time per round (at least one step)")
    ap.add_argument("--only", default="", help="comma-separated case/mode list, e.g. shipped/causal")
    ap.add_argument("--out", default="")
    ap.add_argument("--note", default="", help="free text stored in the output (conditions)")
    ap.add_argument("--merge", nargs="+", default=None,
                    help="merge the JSON outputs of several (interleaved) runs into --out, medians over all rounds")
    a = ap.parse_args()
    if a.merge:
        merge(a.merge, a.out, a.note)
        return
    blas = blas_libs()
    if not any("openblas" in b for b in blas):
        print("warning: not running on OpenBLAS (%s); see the docstring" % blas, file=sys.stderr)
    todo = [(n, m) for n in CASES for m in ("vqvae", "base", "action", "causal")]
    if a.only:
        want = set(a.only.split(","))
        todo = [t for t in todo if "%s/%s" % t in want]
    results = {}
    for n, m in todo:
        r = run_case(n, m, a.rounds, a.min_seconds)
        results["%s/%s" % (n, m)] = r
        print("%-16s batch %2d  %8.3f samples/s  (rounds %s)  cpu %.4f s/sample" % (
            "%s/%s" % (n, m), r["batch"], r["samples_per_s"], r["rounds"], r["cpu_s_per_sample"]), flush=True)
    load = os.getloadavg()
    out = {
        "what": "PyTorch CPU training step per phase and batch mode (internal/golden/bench_train.py)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "platform": platform.platform(),
                    "loadavg_at_end": [round(v, 2) for v in load]},
        "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
        "env": {k: os.environ.get(k, "") for k in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "LD_LIBRARY_PATH")},
        "rounds": a.rounds, "min_seconds_per_round": a.min_seconds,
        "results": results,
    }
    if a.note:
        out["note"] = a.note
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")


def merge(paths, out_path, note=""):
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(json.load(f))
    out = {k: v for k, v in runs[0].items() if k not in ("results", "date", "machine")}
    out["machine"] = {k: v for k, v in runs[0]["machine"].items() if k != "loadavg_at_end"}
    out["runs"] = [{"date": r["date"], "loadavg_at_end": r["machine"]["loadavg_at_end"]} for r in runs]
    res = {}
    for r in runs:
        for case, v in r["results"].items():
            m = res.setdefault(case, {"batch": v["batch"], "config": v["config"], "rounds": [], "cpu_rounds": []})
            m["rounds"] += v["rounds"]
            m["cpu_rounds"] += v["cpu_rounds"]
    for m in res.values():
        m["samples_per_s"] = statistics.median(m["rounds"])
        m["cpu_s_per_sample"] = statistics.median(m["cpu_rounds"])
    out["results"] = res
    if note:
        out["note"] = note
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    for case, m in res.items():
        print("%-16s batch %2d  %8.3f samples/s  cpu %.4f s/sample  (%d rounds)" % (
            case, m["batch"], m["samples_per_s"], m["cpu_s_per_sample"], len(m["rounds"])))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
