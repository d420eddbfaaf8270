"""Golden for the official input preprocessing (MODEL.md, "Official input
preprocessing"): CenterCrop(148) on a 64x64 image zero-pads 42 px a side, then
Resize(64) is bilinear, align_corners=False, no antialias.

Run: /usr/bin/python3 internal/golden/gen_preprocess.py  (Debian python3-torch)
"""
import os

import torch
import torch.nn.functional as F

import safetensors_io

here = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(1234)
x = torch.rand(1, 3, 64, 64, generator=g)
padded = F.pad(x, (42, 42, 42, 42))
y = F.interpolate(padded, size=(64, 64), mode="bilinear", align_corners=False)
safetensors_io.save(os.path.join(here, "testdata", "preprocess_pad42.safetensors"),
                    {"io.x": x[0], "io.y": y[0]}, {"what": "pad 42 then bilinear 148->64"})
