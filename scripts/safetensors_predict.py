#!/usr/bin/python3
"""Predicts with a dptrain checkpoint, independently of the C code (numpy only).

usage: safetensors_predict.py CHECKPOINT INPUT.csv
Metadata "layers" lists the model ("dense 512, relu, dense 10"); entry i that is
dense N uses tensors layers.<i>.weight [N, in] and layers.<i>.bias [N], as
PyTorch's nn.Linear stores them. Optional tensors data.mean and data.std (one
value per input column, fitted on the training split) standardize the inputs first.
Prints one comma-separated output row per input row, in float64, as %.9g."""
import json
import struct
import sys

import numpy as np

ACT = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "identity": lambda x: x,
       "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))}  # no overflow for large |x|


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8:8 + n].decode("utf-8")), raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name}: dtype {t['dtype']}, only F32 is supported")
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"]).astype(np.float64)
    return tensors, meta


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n")[2])
    tensors, meta = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    x = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    if "data.mean" in tensors:
        x = (x - tensors["data.mean"]) / tensors["data.std"]
    for i, layer in enumerate(s.split() for s in meta["layers"].split(",")):
        if layer[:1] == ["dense"]:
            w, b = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
            if len(layer) != 2 or w.shape[0] != int(layer[1]) or b.shape != (w.shape[0],):
                sys.exit(f"{sys.argv[1]}: layer {i} '{' '.join(layer)}' does not match its tensors {w.shape}, {b.shape}")
            x = x @ w.T + b
        elif len(layer) == 1 and layer[0] in ACT:
            x = ACT[layer[0]](x)
        else:
            sys.exit(f"{sys.argv[1]}: layer {i}: unknown layer '{' '.join(layer)}'")
    for row in x:
        print(",".join("%.9g" % v for v in row))


if __name__ == "__main__":
    main()
