#!/usr/bin/env python3
"""tapegrad's safetensors files and NumPy, both ways, with only numpy, json and struct on the Python side.

usage: numpy_safetensors.py SAFETENSORS_TOOL

1. safetensors_tool writes a file; this script reads it as the format's specification says and checks
   every name, dtype, shape, value and the metadata.
2. This script writes a file (F32, F64, I64, F16, BF16, metadata); safetensors_tool loads it with
   tapegrad and prints it; the printout must match, value for value.
Exits 77 (meson's SKIP) when NumPy is not installed.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIP: NumPy is not installed (Debian: python3-numpy)")
    sys.exit(77)

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "F16": "<f2"}


def read_safetensors(path):
    """The tensors (name -> array, in file order) and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    buffer = data[8 + length :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        array = np.frombuffer(buffer[begin:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = (info["dtype"], array.reshape(info["shape"]))
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes (name, dtype, array) triples in order; BF16 arrays are given as uint16 bit patterns."""
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, dtype, array in tensors:
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def check(condition, what):
    if not condition:
        print("FAIL:", what)
        sys.exit(1)


def tapegrad_writes(tool, folder):
    path = os.path.join(folder, "from_tapegrad.safetensors")
    subprocess.run([tool, "write", path], check=True)
    tensors, metadata = read_safetensors(path)
    expected = [
        ("dense/kernel", "F32", np.array([[0.5, -1.25, 3.0], [1e-3, -0.0, 65504.0]], dtype=np.float32)),
        ("dense/bias", "F64", np.array([0.1, -0.2], dtype=np.float64)),
        ("optimizer/iterations", "I64", np.array(12, dtype=np.int64)),
        ("labels", "I64", np.array([-3, 0, 4503599627370497], dtype=np.int64)),
        ("empty", "F32", np.zeros((0, 5), dtype=np.float32)),
        ("cube", "F32", np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
    ]
    check(list(tensors) == [name for name, _, _ in expected], f"names in file order: {list(tensors)}")
    for name, dtype, want in expected:
        got_dtype, got = tensors[name]
        check(got_dtype == dtype, f"{name}: dtype {got_dtype}, expected {dtype}")
        check(got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}")
        check(got.tobytes() == want.tobytes(), f"{name}: values {got}, expected {want} (bit for bit)")
    check(metadata == {"epoch": "7", "note": "written by tapegrad"}, f"metadata {metadata}")
    print(f"ok: NumPy read {len(expected)} tensors and the metadata that tapegrad wrote")


def numpy_writes(tool, folder):
    path = os.path.join(folder, "from_numpy.safetensors")
    rng = np.random.default_rng(5)
    f32 = rng.standard_normal((3, 4)).astype(np.float32)
    f64 = rng.standard_normal(5)
    i64 = np.array([[-(2**62), 1], [2, 2**53 + 1]], dtype=np.int64)
    f16 = np.array([1.0, -2.0, 0.5, 65504.0, 2.0**-24, np.inf], dtype=np.float16)
    bf16_source = np.array([1.0, -2.5, 3.140625, 1e-3], dtype=np.float32)
    bf16 = (bf16_source.view(np.uint32) >> 16).astype(np.uint16)  # truncated to bfloat16
    tensors = [("f32", "F32", f32), ("f64", "F64", f64), ("i64", "I64", i64), ("f16", "F16", f16),
               ("bf16", "BF16", bf16), ("scalar", "F64", np.array(2.5))]
    write_safetensors(path, tensors, {"source": "numpy"})
    out = subprocess.run([tool, "dump", path], check=True, capture_output=True, text=True).stdout
    lines = [line.split("\t") for line in out.splitlines()]
    got = {fields[1]: fields[2:] for fields in lines if fields[0] == "tensor"}
    check([fields[1] for fields in lines if fields[0] == "tensor"] == [t[0] for t in tensors], f"names: {out}")
    bf16_values = (bf16.astype(np.uint32) << 16).view(np.float32)
    expected = {"f32": ("float32", f32), "f64": ("float64", f64), "i64": ("int64", i64),
                "f16": ("float32", f16.astype(np.float32)), "bf16": ("float32", bf16_values),
                "scalar": ("float64", np.array(2.5))}
    for name, (dtype, want) in expected.items():
        got_dtype, shape, values = got[name]
        check(got_dtype == dtype, f"{name}: tapegrad loaded {got_dtype}, expected {dtype}")
        got_shape = tuple(int(d) for d in shape.split(",") if d)
        check(got_shape == want.shape, f"{name}: shape {got_shape}, expected {want.shape}")
        if dtype == "int64":
            numbers = [int(v) for v in values.split(",")]
            check(numbers == want.ravel().tolist(), f"{name}: {numbers} != {want.ravel().tolist()}")
        else:
            numbers = np.array([float(v) for v in values.split(",")], dtype=want.dtype)
            check(numbers.tobytes() == want.ravel().tobytes(), f"{name}: {numbers} != {want.ravel()}")
    check(["metadata", "source", "numpy"] in lines, f"metadata: {out}")
    print(f"ok: tapegrad loaded the {len(tensors)} tensors (F32, F64, I64, F16, BF16) that NumPy wrote")


def main():
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="tapegrad-interop-") as folder:
        tapegrad_writes(tool, folder)
        numpy_writes(tool, folder)


if __name__ == "__main__":
    main()
