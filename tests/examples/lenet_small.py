#!/usr/bin/env python3
"""Runs the lenet example on a small data set that the test writes, for meson test.

  lenet_small.py MAKE_DATA LENET [--train N] [--test N] -- LENET_ARGS...

Writes N synthetic training and test images in Fashion-MNIST's IDX files into a temporary
directory (MAKE_DATA --out DIR), runs LENET --data DIR --csv FILE --plot FILE.svg LENET_ARGS, and
passes when it exits 0 (its own checks passed), its history CSV has one well-formed row per epoch,
and its chart is an SVG document with the curves drawn.
"""

import csv
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

SVG = "{http://www.w3.org/2000/svg}"
COLUMNS = ["epoch", "train_loss", "train_accuracy", "test_accuracy", "seconds"]


def run(command):
    print(f"$ {' '.join(command)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    print(f"(exit {result.returncode})\n{result.stdout}{result.stderr}", flush=True)
    return result


def check_csv(path, epochs):
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    if not rows or rows[0] != COLUMNS:
        return f"{path}: header is {rows[:1]}, expected {COLUMNS}"
    if len(rows) != epochs + 1:
        return f"{path}: {len(rows) - 1} rows, expected one per epoch ({epochs})"
    for number, row in enumerate(rows[1:], start=1):
        values = [float(value) for value in row]
        if int(values[0]) != number or not all(math.isfinite(value) for value in values):
            return f"{path}: row {number} is {row}"
        if not (0 <= values[2] <= 1 and 0 <= values[3] <= 1 and values[1] > 0 and values[4] > 0):
            return f"{path}: row {number} is {row}: a loss, accuracy or time out of range"
    return None


def check_svg(path, epochs):
    root = ElementTree.parse(path).getroot()  # raises on a malformed document
    if root.tag != SVG + "svg":
        return f"{path}: the root element is {root.tag}, expected svg"
    polylines = root.findall(f".//{SVG}polyline")
    texts = [element.text or "" for element in root.iter(SVG + "text")]
    if len(polylines) < 3:
        return f"{path}: {len(polylines)} curves drawn, expected at least 3"
    for label in ["loss", "accuracy", "epoch", "test accuracy"]:
        if label not in texts:
            return f"{path}: no text '{label}' (axes, titles, legend)"
    circles = root.findall(f".//{SVG}circle")
    if len(circles) != 3 * epochs:
        return f"{path}: {len(circles)} points, expected 3 per epoch"
    return None


def main():
    args = sys.argv[1:]
    if "--" not in args or args.index("--") < 2:
        raise SystemExit(__doc__)
    split = args.index("--")
    make_data, lenet, options, lenet_args = args[0], args[1], args[2:split], args[split + 1 :]
    counts = {"--train": "2000", "--test": "500"}
    while options:
        if options[0] in counts and len(options) > 1:
            counts[options[0]], options = options[1], options[2:]
        else:
            raise SystemExit(__doc__)
    epochs = 10
    for i, arg in enumerate(lenet_args):
        if arg == "--epochs" and i + 1 < len(lenet_args):
            epochs = int(lenet_args[i + 1])

    with tempfile.TemporaryDirectory(prefix="lenet_small.") as directory:
        data = os.path.join(directory, "data")
        history_csv = os.path.join(directory, "history.csv")
        history_svg = os.path.join(directory, "history.svg")
        made = run([make_data, "--out", data, "--train", counts["--train"], "--test", counts["--test"]])
        if made.returncode != 0:
            return "making the data set failed"
        trained = run([lenet, "--data", data, "--csv", history_csv, "--plot", history_svg] + lenet_args)
        if trained.returncode != 0:
            return f"lenet exited with status {trained.returncode}"
        for problem in [check_csv(history_csv, epochs), check_svg(history_svg, epochs)]:
            if problem:
                return problem
        print(f"{history_csv} and {history_svg} are well formed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
