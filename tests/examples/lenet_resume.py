#!/usr/bin/env python3
"""lenet --save and --resume: a run stopped after an epoch and resumed prints the same history.

  lenet_resume.py MAKE_DATA LENET -- LENET_ARGS...

Writes a small synthetic data set (MAKE_DATA --out DIR), then runs LENET --data DIR LENET_ARGS three
times: 2 epochs straight; 1 epoch with --save FILE; --resume FILE to epoch 2. The resumed run must
print the uninterrupted run's epoch lines and CSV rows (the seconds aside) exactly, and its checkpoint
file must be a safetensors file holding the model, the optimizer, the data order and the history.
"""

import csv
import json
import os
import re
import struct
import subprocess
import sys
import tempfile


def run(command):
    print(f"$ {' '.join(command)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    print(f"(exit {result.returncode})\n{result.stdout}{result.stderr}", flush=True)
    return result


def epoch_lines(stdout):
    """The 'epoch N: ...' lines, without their time."""
    return [re.sub(r", [0-9.]+ s$", "", line) for line in stdout.splitlines() if re.match(r"epoch \d+: ", line)]


def csv_rows(path):
    with open(path, newline="") as file:
        return [row[:4] for row in csv.reader(file)]  # without the seconds


def main():
    args = sys.argv[1:]
    if "--" not in args or args.index("--") != 2:
        raise SystemExit(__doc__)
    make_data, lenet, lenet_args = args[0], args[1], args[3:]
    with tempfile.TemporaryDirectory(prefix="lenet_resume.") as directory:
        data = os.path.join(directory, "data")
        checkpoint = os.path.join(directory, "lenet.safetensors")
        made = run([make_data, "--out", data, "--train", "600", "--test", "200"])
        if made.returncode != 0:
            return "making the data set failed"
        common = [lenet, "--data", data, "--progress", "none"] + lenet_args
        straight_csv, resumed_csv = os.path.join(directory, "straight.csv"), os.path.join(directory, "resumed.csv")
        straight = run(common + ["--epochs", "2", "--csv", straight_csv])
        first = run(common + ["--epochs", "1", "--save", checkpoint])
        resumed = run(common + ["--epochs", "2", "--resume", checkpoint, "--save", checkpoint, "--csv", resumed_csv])
        for name, result in [("straight", straight), ("first", first), ("resumed", resumed)]:
            if result.returncode != 0:
                return f"the {name} run exited with status {result.returncode}"
        if len(epoch_lines(straight.stdout)) != 2:
            return f"the straight run printed {epoch_lines(straight.stdout)}, expected 2 epoch lines"
        if epoch_lines(resumed.stdout) != epoch_lines(straight.stdout):
            return "the resumed run's history differs from the uninterrupted run's"
        if csv_rows(resumed_csv) != csv_rows(straight_csv):
            return f"CSV histories differ: {csv_rows(resumed_csv)} != {csv_rows(straight_csv)}"
        with open(checkpoint, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(length))
        parts = {name.split("/")[0] for name in header if name != "__metadata__"}
        if not {"model", "optimizer", "batches", "history"} <= parts:
            return f"the checkpoint holds the parts {sorted(parts)}"
        if header["__metadata__"].get("epoch") != "2":
            return f"the checkpoint's metadata is {header['__metadata__']}, expected epoch 2"
        print("the resumed run printed the uninterrupted run's history; the checkpoint has every part")
    return 0


if __name__ == "__main__":
    sys.exit(main())
