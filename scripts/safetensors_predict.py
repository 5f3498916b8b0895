#!/usr/bin/python3
"""Predicts with a dptrain checkpoint, independently of the C code (numpy only).

usage: safetensors_predict.py CHECKPOINT INPUT.csv
Metadata "layers" lists the model ("conv 32 3x3 pad 1, relu, maxpool 2, dense 10");
entry i that is dense N uses tensors layers.<i>.weight [N, in] and layers.<i>.bias
[N], as PyTorch's nn.Linear stores them; conv N KxK [stride S] [pad P] uses
layers.<i>.weight [N, C, K, K] and layers.<i>.bias [N], as nn.Conv2d does.
Metadata in_channels, in_height, in_width give each input row's C x H x W (flat
when absent); a dense layer reads a C x H x W input flat, as after nn.Flatten.
Optional tensors data.mean and data.std (one value per input column, fitted on the
training split) standardize the inputs first. Dropout is the identity (evaluation).
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


def words(layer, i, path):
    """conv/pool arguments: the leading numbers, then 'stride S' and 'pad P' pairs."""
    args = " ".join(layer[1:]).replace("x", " x ").split()
    nums, opts = [], {}
    while args and args[0].isdigit():
        nums.append(int(args.pop(0)))
        if args[:1] == ["x"]:
            args.pop(0)
            if not args or not args[0].isdigit() or int(args[0]) != nums[-1]:
                sys.exit(f"{path}: layer {i}: only square kernels")
            args.pop(0)
    while len(args) >= 2 and args[0] in ("stride", "pad") and args[1].isdigit():
        opts[args[0]] = int(args[1])
        args = args[2:]
    if args:
        sys.exit(f"{path}: layer {i}: cannot read '{' '.join(layer)}'")
    return nums, opts


def windows(x, k, s, pad):
    """Yields (a, b, view) for every kernel offset: view [n, c, oh, ow] of the padded input."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    for a in range(k):
        for b in range(k):
            yield a, b, x[:, :, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s]


def conv(x, w, bias, s, pad):
    y = 0.0
    for a, b, v in windows(x, w.shape[2], s, pad):
        y = y + np.einsum("nchw,fc->nfhw", v, w[:, :, a, b])
    return y + bias[None, :, None, None]


def pool(x, k, s, reduce):
    views = [v for _, _, v in windows(x, k, s, 0)]
    return reduce(np.stack(views), axis=0)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n")[2])
    tensors, meta = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    x = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    if "data.mean" in tensors:
        x = (x - tensors["data.mean"]) / tensors["data.std"]
    if "in_channels" in meta:
        x = x.reshape(len(rows), int(meta["in_channels"]), int(meta["in_height"]), int(meta["in_width"]))
    path = sys.argv[1]
    for i, layer in enumerate(s.split() for s in meta["layers"].split(",")):
        kind = layer[:1]
        if kind == ["dense"]:
            w, b = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
            if len(layer) != 2 or w.shape[0] != int(layer[1]) or b.shape != (w.shape[0],):
                sys.exit(f"{path}: layer {i} '{' '.join(layer)}' does not match its tensors {w.shape}, {b.shape}")
            x = x.reshape(len(x), -1) @ w.T + b
        elif kind == ["conv"]:
            (n, k), opts = words(layer, i, path)
            w, b = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
            if w.shape != (n, x.shape[1], k, k) or b.shape != (n,):
                sys.exit(f"{path}: layer {i} '{' '.join(layer)}' does not match its tensors {w.shape}, {b.shape}")
            x = conv(x, w, b, opts.get("stride", 1), opts.get("pad", 0))
        elif kind in (["maxpool"], ["avgpool"]):
            (k,), opts = words(layer, i, path)
            x = pool(x, k, opts.get("stride", k), np.max if kind == ["maxpool"] else np.mean)
        elif kind == ["flatten"]:
            x = x.reshape(len(x), -1)
        elif kind == ["dropout"]:
            pass
        elif len(layer) == 1 and layer[0] in ACT:
            x = ACT[layer[0]](x)
        else:
            sys.exit(f"{sys.argv[1]}: layer {i}: unknown layer '{' '.join(layer)}'")
    for row in x.reshape(len(x), -1):
        print(",".join("%.9g" % v for v in row))


if __name__ == "__main__":
    main()
