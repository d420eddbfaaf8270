"""Writes python_writer.safetensors with the golden generators' writer
(internal/golden/safetensors_io.py), so the Go reader is tested against bytes
it did not produce. Run from the repository root with Debian's python3 and
numpy: /usr/bin/python3 weights/testdata/gen_python_fixture.py
"""
import sys

import numpy as np

sys.path.insert(0, "internal/golden")
import safetensors_io  # noqa: E402

tensors = {
    # Integer arrays are written as F32 by that writer.
    "b.codes": np.array([[0, 1, 63], [7, 8, 9]], dtype=np.int64),
    "a.weight": (np.arange(24, dtype=np.float32) / 8 - 1).reshape(2, 3, 4),
    "c.half": np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05,
                        5.9604645e-08, np.inf, -np.inf, np.nan], dtype=np.float16),
    "d.scalar": np.array(3.25, dtype=np.float32),
    "e.empty": np.zeros((0, 5), dtype=np.float32),
}
safetensors_io.save("weights/testdata/python_writer.safetensors", tensors,
                    {"format": "ctvae", "format_version": 1, "note": "x<y & \"q\""})
