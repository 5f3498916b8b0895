#!/usr/bin/python3
"""Writes the seed inputs of tests/fuzz/NAME/ (seed-*) and the inputs that found the defects of
issue #12 (crash-*): small valid files of each format, and each small file that used to ask for
gigabytes. Run from the repository root: tests/fuzz/seeds.py [LINREG.safetensors BLOBS.safetensors]
(the checkpoints of `dptrain` and of a 3-class CSV run, for the checkpoint seeds)."""
import gzip, json, os, struct, sys

def put(name, data):
    os.makedirs(os.path.dirname(name), exist_ok=True)
    with open(name, "wb") as f:
        f.write(data)

def gz(data):
    return gzip.compress(data, mtime=0)

def idx(code, dims, data):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data

def npy(descr, shape, data, major=1):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    pre = 10 if major == 1 else 12
    hlen = (pre + len(d) + 1 + 63) // 64 * 64 - pre
    h = (d + " " * (hlen - len(d) - 1) + "\n").encode()
    ln = struct.pack("<H", hlen) if major == 1 else struct.pack("<I", hlen)
    return b"\x93NUMPY" + bytes([major, 0]) + ln + h + data

T = "tests/fuzz/"
# experiment files
for src in ["launch/configs/default.ini", "launch/configs/linreg.ini"]:
    put(T + "config/seed-" + os.path.basename(src), open(src, "rb").read())
put(T + "config/seed-sets.ini", b"[data]\ntrain = x.csv\ntask = classify\nval_fraction = 0.2\n[model]\n"
    b"layers = dense 8, relu, dense 3\n[loss]\nkind = cross_entropy\n[training]\nbatch = 4\nepochs = 2\n")
# IDX, plain and gzipped
img = idx(8, [3, 2, 2], bytes(range(12)))
put(T + "idx/seed-u8", img)
put(T + "idx/seed-u8.gz", gz(img))
put(T + "idx/seed-f32", idx(0x0D, [2, 2], struct.pack(">4f", 1, -2, 0.5, 3)))
put(T + "idx/seed-i16", idx(0x0B, [2, 1], struct.pack(">2h", -2, 300)))
# A 36-byte gzip whose trailer claims 4 GiB: gunzip sized its buffer by it.
lie = bytearray(gz(idx(8, [1], b"\x07")))
lie[-4:] = b"\xff\xff\xff\xff"
put(T + "idx/crash-gzip-trailer-4gib.gz", bytes(lie))
# NPY, both byte orders, versions 1 and 2
put(T + "npy/seed-f4", npy("<f4", (2, 2), struct.pack("<4f", 1, 2, 3, 4)))
put(T + "npy/seed-be-f8", npy(">f8", (2,), struct.pack(">2d", 1, 0.5)))
put(T + "npy/seed-u1-v2", npy("|u1", (3, 1), bytes([1, 0, 2]), major=2))
put(T + "npy/seed-be-i4.gz", gz(npy(">i4", (2, 1), struct.pack(">2i", 3, -1))))
# CSV: the first byte picks the options
put(T + "csv/seed-header", b"\x00" + b"a,b,label\n1,2,0\n3.5,-4e2,1\n\"5\",6,2\n")
put(T + "csv/seed-regress-crlf", b"\x04" + b"\xef\xbb\xbf1,2,0.5\r\n\r\n3,4,-1\r\n")
put(T + "csv/seed-gz", b"\x01" + gz(b"x,y\n1,0\n2,1\n"))
# 40 001 columns, then 40 000 blank lines: rows = newlines x first-line columns asked for 6.4 GB.
put(T + "csv/crash-blank-lines-6gb.csv.gz", b"\x00" + gz(b"0," * 40000 + b"0" + b"\n" * 40000))
# libsvm: the first byte picks the options
put(T + "libsvm/seed-basic", b"\x00" + b"# c\n1 1:0.5 3:-2 # t\n\n0 qid:3 2:4\r\n2\n1\t1:1e1\t4:7\n")
put(T + "libsvm/seed-regress", b"\x04" + b"-1.5 2:1\n3.25 1:2\n")
# Index 2^31 in 15 bytes: an 8 GiB dense matrix, and a width that wraps an int.
put(T + "libsvm/crash-index-2g", b"\x00" + b"1 2147483648:1\n")

def retarget(path, in_dim, layers):
    """The checkpoint at path with metadata in_dim and model.layers changed (both outside the checksum)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    md = h["__metadata__"]
    md["in_dim"] = str(in_dim)
    md["layers"] = layers
    md["config"] = "\n".join("layers = " + layers if l.startswith("layers =") else l
                             for l in md["config"].split("\n"))
    j = json.dumps(h, separators=(",", ":")).encode()
    j += b" " * (-len(j) % 8)
    return struct.pack("<Q", len(j)) + j + raw[8 + n:]

if len(sys.argv) == 3:
    put(T + "checkpoint/seed-linreg.safetensors", open(sys.argv[1], "rb").read())
    put(T + "checkpoint/seed-blobs.safetensors", open(sys.argv[2], "rb").read())
    # A model of 10^8 inputs x 25 described by metadata alone: built (10 GB) before the shapes were checked.
    put(T + "checkpoint/crash-metadata-10gb.safetensors", retarget(sys.argv[1], 100000000, "dense 25"))
