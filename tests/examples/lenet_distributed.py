#!/usr/bin/env python3
"""lenet --distributed as 2 processes under mpirun, on a small synthetic data set.

  lenet_distributed.py MAKE_DATA LENET -- LENET_ARGS...

Runs LENET --data DIR --distributed LENET_ARGS under `mpirun -np 2`:
  1. 2 epochs straight with --csv and --plot: exactly one copy of each epoch line and of the final line
     (only rank 0 prints), a CSV of 2 rows and a chart; its numbers are those of 1 process training on
     the same global batches (the train loss and accuracies to within 0.01: float sums in another order);
  2. 1 epoch with --save FILE, then --resume FILE to epoch 2 (rank 0's checkpoint, read by both ranks):
     the history of the straight run, line for line.
Exit 77 (SKIP) with a message when mpirun is missing.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet_resume import csv_rows, epoch_lines, run  # noqa: E402

SKIP = 77


def numbers(line):
    """The train loss, train accuracy and test accuracy of an 'epoch N: ...' line."""
    found = re.match(r"epoch \d+: train loss ([0-9.]+), train acc ([0-9.]+), test acc ([0-9.]+)", line)
    return [float(x) for x in found.groups()]


def main():
    args = sys.argv[1:]
    if "--" not in args or args.index("--") != 2:
        raise SystemExit(__doc__)
    make_data, lenet, lenet_args = args[0], args[1], args[3:]
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        print("SKIP: mpirun not found: install Debian's openmpi-bin and libopenmpi-dev (./dev does)")
        return SKIP
    launcher = [mpirun, "-np", "2", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    os.environ.setdefault("TAPEGRAD_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="lenet_distributed.") as directory:
        data = os.path.join(directory, "data")
        checkpoint = os.path.join(directory, "lenet.safetensors")
        if run([make_data, "--out", data, "--train", "600", "--test", "200"]).returncode != 0:
            return "making the data set failed"
        common = [lenet, "--data", data, "--progress", "none"] + lenet_args
        straight_csv, resumed_csv = os.path.join(directory, "straight.csv"), os.path.join(directory, "resumed.csv")
        plot = os.path.join(directory, "curves.svg")
        straight = run(launcher + common + ["--distributed", "--epochs", "2", "--csv", straight_csv, "--plot", plot])
        alone = run(common + ["--epochs", "2"])
        first = run(launcher + common + ["--distributed", "--epochs", "1", "--save", checkpoint])
        resumed = run(launcher + common +
                      ["--distributed", "--epochs", "2", "--resume", checkpoint, "--csv", resumed_csv])
        for name, result in [("straight", straight), ("single-process", alone), ("first", first),
                             ("resumed", resumed)]:
            if result.returncode != 0:
                return f"the {name} run exited with status {result.returncode}"
        lines = epoch_lines(straight.stdout)
        if len(lines) != 2 or straight.stdout.count("final: ") != 1:
            return f"expected 2 epoch lines and 1 final line (rank 0's only), got {lines}"
        if "in each of 2 processes" not in straight.stdout:
            return "the run does not say it trains in 2 processes"
        if len(csv_rows(straight_csv)) != 3 or not os.path.getsize(plot):
            return "the CSV (a header and 2 rows) or the chart is missing"
        for together, single in zip(lines, epoch_lines(alone.stdout)):
            differences = [abs(a - b) for a, b in zip(numbers(together), numbers(single))]
            if max(differences) > 0.01:
                return f"2 processes: '{together}'; 1 process: '{single}': they differ by more than 0.01"
        print("2 processes print what 1 process training on the same global batches prints, to within 0.01")
        if epoch_lines(resumed.stdout) != lines or csv_rows(resumed_csv) != csv_rows(straight_csv):
            return "the resumed distributed run's history differs from the straight one's"
        print("rank 0 printed alone; its checkpoint resumed the 2-process run to the straight run's history")
    return 0


if __name__ == "__main__":
    sys.exit(main())
