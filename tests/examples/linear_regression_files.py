#!/usr/bin/env python3
"""Runs the linear_regression example with --csv, --plot and --save, for meson test.

  linear_regression_files.py LINEAR_REGRESSION [ARGS...]

Passes when the example exits 0 (its own checks passed, the checkpoint read back included), its
history CSV has one row per epoch (3) with finite, positive losses, and its chart is an
SVG document with the four curves drawn.
"""

import csv
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

SVG = "{http://www.w3.org/2000/svg}"
COLUMNS = ["epoch", "from_scratch_loss", "concise_loss"]


def problems(directory):
    csv_path = os.path.join(directory, "history.csv")
    with open(csv_path, newline="") as file:
        rows = list(csv.reader(file))
    if not rows or rows[0] != COLUMNS:
        return f"{csv_path}: header is {rows[:1]}, expected {COLUMNS}"
    if len(rows) != 4:
        return f"{csv_path}: {len(rows) - 1} rows, expected 3"
    values = [[float(value) for value in row] for row in rows[1:]]
    for number, row in enumerate(values, start=1):
        if int(row[0]) != number or not all(math.isfinite(v) and v > 0 for v in row[1:]):
            return f"{csv_path}: row {number} is {row}"
    svg_path = os.path.join(directory, "loss.svg")
    root = ElementTree.parse(svg_path).getroot()  # raises on a malformed document
    if root.tag != SVG + "svg":
        return f"{svg_path}: the root element is {root.tag}, expected svg"
    curves = list(root.iter(SVG + "polyline"))
    if len(curves) < 4:
        return f"{svg_path}: {len(curves)} curves drawn, expected at least 4"
    if not os.path.getsize(os.path.join(directory, "fit.safetensors")):
        return "fit.safetensors is empty"
    return None


def main():
    program, args = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory() as directory:
        command = [program, "--csv", os.path.join(directory, "history.csv"), "--plot",
                   os.path.join(directory, "loss.svg"), "--save", os.path.join(directory, "fit.safetensors")] + args
        print(f"$ {' '.join(command)}", flush=True)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        print(f"(exit {result.returncode})\n{result.stdout}{result.stderr}", flush=True)
        if result.returncode != 0:
            return 1
        problem = problems(directory)
        if problem:
            print(f"FAIL: {problem}")
            return 1
    print("ok: CSV, chart and checkpoint written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
