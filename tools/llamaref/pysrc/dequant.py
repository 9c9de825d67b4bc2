"""dequant.py: an independent reference for GGUF dequantization.

Reads a GGUF file with llama.cpp's gguf-py (GGUFReader) and widens every
tensor to float32 with gguf-py's numpy dequantizers (gguf.quants.dequantize).
Writes the values of each tensor, in file order, as little-endian float32 to
OUT, and prints one JSON line: [{"name", "type", "n"}] in the same order.

usage: PYTHONPATH=<llama.cpp>/gguf-py python3 dequant.py IN.gguf OUT.f32
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    src, out = sys.argv[1], sys.argv[2]
    r = GGUFReader(src)
    meta = []
    with open(out, "wb") as f:
        for t in r.tensors:
            v = dequantize(t.data, t.tensor_type).astype("<f4", copy=False)
            f.write(np.ascontiguousarray(v).tobytes())
            meta.append({"name": t.name, "type": t.tensor_type.name, "n": int(v.size)})
    json.dump(meta, sys.stdout)


if __name__ == "__main__":
    main()
