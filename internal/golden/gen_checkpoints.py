#!/usr/bin/python3
"""Writes the PyTorch checkpoint fixtures of weights/checkpoint and `ctvae convert`.

Run with Debian's python3-torch: /usr/bin/python3 internal/golden/gen_checkpoints.py
The weights come from the committed goldens (ctvae_tiny, vqvae_tiny_k2), so a
converted fixture must reproduce those goldens' outputs. Files go to
testdata/checkpoints/; every write is deterministic (fixed zip dates, no
randomness), so regenerating changes nothing unless this script changes.
"""
import collections
import io
import json
import os
import sys
import types
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402

OUT = os.path.join(HERE, "testdata", "checkpoints")


# Lightning stores hyper_parameters as pytorch_lightning.utilities.parsing.
# AttributeDict. Without Lightning installed, define a dict subclass under the
# same module path so that the pickle references the same global.
try:
    from pytorch_lightning.utilities.parsing import AttributeDict
except ImportError:
    class AttributeDict(dict):
        def __getattr__(self, key):
            try:
                return self[key]
            except KeyError as e:
                raise AttributeError(key) from e

        def __setattr__(self, key, val):
            self[key] = val

    AttributeDict.__module__ = "pytorch_lightning.utilities.parsing"
    for name in ("pytorch_lightning", "pytorch_lightning.utilities",
                 "pytorch_lightning.utilities.parsing"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["pytorch_lightning.utilities.parsing"].AttributeDict = AttributeDict


def golden(name):
    """The model tensors (no io.*) of a golden file and its config dict."""
    t, meta = safetensors_io.load(os.path.join(HERE, "testdata", name + ".safetensors"))
    sd = collections.OrderedDict()
    for k in sorted(t):
        if not k.startswith("io."):
            sd[k] = torch.from_numpy(t[k])
    return sd, json.loads(meta["config"])


def save(obj, name, root=None):
    """torch.save into a buffer, then rewrite the zip with fixed dates so the
    bytes are reproducible (entries stay uncompressed, as torch writes them).
    torch names the archive's top folder after the file ("archive" for a
    buffer); root renames it."""
    entries = read_zip(zip_bytes(obj))
    if root:
        entries = [(root + "/" + n.split("/", 1)[1], d) for n, d in entries]
    write_zip(name, entries)


def state_dict(items):
    """An OrderedDict carrying _metadata, as Module.state_dict() returns it."""
    sd = collections.OrderedDict(items)
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd


def read_zip(b):
    with zipfile.ZipFile(io.BytesIO(b)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def write_zip(name, entries, compress=zipfile.ZIP_STORED):
    path = os.path.join(OUT, name)
    with zipfile.ZipFile(path, "w", compress) as z:
        for fn, data in entries:
            info = zipfile.ZipInfo(fn, date_time=(2023, 1, 1, 0, 0, 0))
            info.compress_type = compress
            z.writestr(info, data)
    print("%s: %d bytes" % (name, os.path.getsize(path)))


def adam_states(sd):
    """One real Adam step, as Lightning's optimizer_states and lr_schedulers
    hold them. The official schedule trains only ct_layer once the VQ-VAE is
    pretrained, so a CT-VAE's optimizer holds ct_layer's parameters (not the
    pe buffer); a VQ-VAE's holds all of them. States stay float32."""
    names = [k for k in sd if k.startswith("ct_layer.") and not k.endswith(".pe")] or list(sd)
    params = [torch.nn.Parameter(sd[k].float().clone()) for k in names]
    opt = torch.optim.Adam(params, lr=5e-4)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.994)
    for p in params:
        p.grad = torch.full_like(p, 0.01)
    opt.step()
    sched.step()
    return [opt.state_dict()], [sched.state_dict()]


def lightning(sd, cfg, name, extra_state=None):
    """A checkpoint in PyTorch Lightning 1.6's layout (VAEXperiment.model)."""
    state = state_dict(("model." + k, v) for k, v in sd.items())
    if extra_state:
        state.update(extra_state)
    opts, scheds = adam_states(sd)
    mp = dict(cfg)
    mp["name"] = "CTMCQVAE" if cfg.get("action_dim") else "MCQVAE"
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "1.6.5",
        "state_dict": state,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_Reconstruction_Loss'}": {
            "monitor": "val_Reconstruction_Loss", "best_model_score": torch.tensor(0.125),
            "best_model_path": "logs/" + name + "/checkpoints/epoch=3.ckpt", "best_k_models": {}}},
        "optimizer_states": opts,
        "lr_schedulers": scheds,
        "hparams_name": "kwargs",
        "hyper_parameters": AttributeDict(
            model_params=mp,
            exp_params={"LR": 0.0005, "weight_decay": 0.0, "scheduler_gamma": 0.994, "manual_seed": 1265},
            data_params={"dataset_name": "TShapes3D", "train_batch_size": 16, "patch_size": 64}),
    }


def noncontiguous(sd):
    """The same values held as views: 2-D and 4-D weights as transposes of
    contiguous column-major copies, and the biases packed into one storage
    and saved as offset views of it."""
    out = collections.OrderedDict()
    biases = [k for k, v in sd.items() if v.dim() == 1]
    packed = torch.cat([sd[k] for k in biases])
    off = 0
    for k, v in sd.items():
        if v.dim() == 1:
            out[k] = packed[off:off + v.numel()]
            off += v.numel()
        elif v.dim() >= 2:
            dims = list(range(v.dim()))[::-1]
            out[k] = v.permute(*dims).contiguous().permute(*dims)
            assert not out[k].is_contiguous() or min(v.shape) == 1
        else:
            out[k] = v
        assert torch.equal(out[k], v)
    return out


def zip_of(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return read_zip(buf.getvalue())


def bad_fixtures():
    small = collections.OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3),
                                    b=torch.ones(3))
    entries = zip_of(small)
    root = entries[0][0].split("/")[0]
    # A small valid state_dict: the base of the bad cases and a fuzz seed.
    write_zip("small.pt", entries)
    # The storage of "w" removed from the archive.
    key = storage_key(small, "w")
    write_zip("bad_missing_storage.pt", [e for e in entries if e[0] != root + "/data/" + key])
    # The storage of "w" cut to 5 of its 6 floats.
    write_zip("bad_short_storage.pt",
              [(n, d[:20] if n == root + "/data/" + key else d) for n, d in entries])
    # A float64 tensor: a storage type the converter refuses.
    write_zip("bad_double.pt", zip_of({"w": torch.ones(2, dtype=torch.float64)}))
    # A pickle that would run os.system("echo pwned") under an unrestricted
    # unpickler, in torch's archive layout. Written by hand on purpose.
    evil = (b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.")
    write_zip("bad_os_system.pt", [(root + "/data.pkl", evil), (root + "/version", b"3\n")])
    # A view reaching past its storage: size (3, 3) on a 6-float storage.
    write_zip("bad_view.pt", handmade({"w": Rebuild("0", torch.FloatStorage, (3, 3), (3, 1))},
                                      {"0": bytes(24)}))
    # A storage class the converter does not know.
    write_zip("bad_unknown_storage.pt", handmade({"w": Rebuild("0", torch.QInt8Storage, (2,), (1,))},
                                                 {"0": bytes(2)}))
    # An nn.Parameter (pickled through _rebuild_parameter) and a bfloat16
    # tensor, as a model saved whole or in bfloat16 would hold them.
    write_zip("small_param_bf16.pt", zip_of(collections.OrderedDict(
        w=torch.nn.Parameter(torch.arange(6, dtype=torch.float32).reshape(2, 3)),
        b=torch.tensor([1.5, -2.0, 3.0e-3], dtype=torch.bfloat16))))
    # The small state_dict compressed (deflate): accepted like stored entries.
    write_zip("small_deflate.pt", entries, zipfile.ZIP_DEFLATED)


class Rebuild:
    """Pickles as torch's tensor rebuild call on storage key (numel taken
    from the raw bytes given to handmade), whatever the shape claims."""
    def __init__(self, key, storage_type, size, stride):
        self.key, self.storage_type, self.size, self.stride = key, storage_type, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (StorageRef(self.key, self.storage_type), 0, self.size, self.stride, False,
                 collections.OrderedDict()))


class StorageRef:
    def __init__(self, key, storage_type):
        self.key, self.storage_type = key, storage_type


def handmade(obj, storages, root="archive"):
    """A torch.save-style archive of obj whose storages are raw bytes."""
    import pickle
    sizes = {"QInt8Storage": 1}

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, StorageRef):
                size = sizes.get(o.storage_type.__name__, 4)
                return ("storage", o.storage_type, o.key, "cpu", len(storages[o.key]) // size)
            return None
    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    return ([(root + "/data.pkl", buf.getvalue())] +
            [(root + "/data/" + k, v) for k, v in storages.items()] + [(root + "/version", b"3\n")])


def storage_key(sd, name):
    """The archive key torch.save gives the storage of sd[name]."""
    import pickle
    with zipfile.ZipFile(io.BytesIO(zip_bytes(sd))) as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        data = z.read(pkl)

    class U(pickle.Unpickler):
        def persistent_load(self, pid):
            return ("storage", pid[2])

        def find_class(self, mod, nm):
            if nm == "_rebuild_tensor_v2":
                return lambda st, *a: st[1]
            if mod == "collections":
                return collections.OrderedDict
            return getattr(torch, nm)
    return U(io.BytesIO(data)).load()[name]


def zip_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    ct, ct_cfg = golden("ctvae_tiny")
    vq, vq_cfg = golden("vqvae_tiny_k2")
    # (1) A bare state_dict, no prefix: torch.save(model.state_dict()).
    save(state_dict(ct.items()), "ctvae_tiny_state_dict.pt")
    # (2) Lightning's layout, with a non-model tensor in the state_dict.
    save(lightning(ct, ct_cfg, "ctvae_tiny", {"val_metric.running_mean": torch.zeros(3)}),
         "ctvae_tiny_lightning.ckpt")
    # (3) Lightning's layout in float16 (HalfStorage).
    half = collections.OrderedDict((k, v.half()) for k, v in vq.items())
    save(lightning(half, vq_cfg, "vqvae_tiny_k2"), "vqvae_tiny_k2_f16.ckpt")
    # (4) A "model."-prefixed state_dict of non-contiguous views.
    save(state_dict(("model." + k, v) for k, v in noncontiguous(vq).items()),
         "vqvae_tiny_k2_views.pt", root="vqvae_tiny_k2_views")
    # (5) A state_dict that does not match its config: one tensor missing,
    # one extra, one mis-shaped.
    bad = collections.OrderedDict(vq)
    del bad["encoder.0.0.bias"]
    bad["encoder.99.weight"] = torch.zeros(2)
    bad["decoder.0.0.bias"] = torch.zeros(3)
    save(bad, "bad_shapes.pt")
    # Official-style YAML configs: the tiny model's and another architecture's.
    with open(os.path.join(OUT, "vqvae_tiny_k2.yaml"), "w") as f:
        f.write("model_params:\n  name: 'MCQVAE'\n")
        for k, v in vq_cfg.items():
            f.write("  %s: %s\n" % (k, json.dumps(v)))
        f.write("\nexp_params:\n  LR: 0.0005\n")
    with open(os.path.join(OUT, "betavae.yaml"), "w") as f:
        f.write("model_params:\n  name: 'BetaVAE'\n  in_channels: 3\n  latent_dim: 10\n"
                "  loss_type: 'B'\n  gamma: 10.0\n  max_capacity: 25\n  Capacity_max_iter: 10000\n")
    bad_fixtures()


if __name__ == "__main__":
    main()
