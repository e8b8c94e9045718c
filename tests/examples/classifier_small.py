#!/usr/bin/env python3
"""Trains one of the Fashion-MNIST examples (dropout_mlp, batchnorm_lenet, resnet) on a small data
set that the test writes, for meson test.

  classifier_small.py MAKE_DATA PROGRAM [--train N] [--test N] [--min-test-accuracy A]
                      [--max-loss R] [--mpirun NP] -- PROGRAM_ARGS...

Writes N synthetic training and test images in Fashion-MNIST's IDX files into a temporary directory
(MAKE_DATA --out DIR), runs PROGRAM --data DIR --csv FILE --plot FILE.svg --save FILE PROGRAM_ARGS,
and passes when it exits 0 (its own checks passed: the loss fell, test accuracy beats chance, the
checkpoint read back into a new model gives the trained model's outputs, and its chapter's checks),
its history CSV has one well-formed row per epoch, its chart is an SVG document with the curves
drawn, and the last epoch's test accuracy (in inference mode) is at least A and its training loss
at most R (a model that learned nothing stays at ln 10 = 2.30). With --mpirun NP, PROGRAM runs as NP
processes under mpirun (give it --distributed), one kernel thread each, and must say so once (rank
0 alone prints); exit 77 (SKIP) when mpirun is not installed.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet_small import check_csv, check_svg, run  # noqa: E402


def main():
    args = sys.argv[1:]
    if "--" not in args or args.index("--") < 2:
        raise SystemExit(__doc__)
    split = args.index("--")
    make_data, program, options, program_args = args[0], args[1], args[2:split], args[split + 1 :]
    settings = {"--train": "2000", "--test": "500", "--min-test-accuracy": "0", "--max-loss": "2.31", "--mpirun": "0"}
    while options:
        if options[0] in settings and len(options) > 1:
            settings[options[0]], options = options[1], options[2:]
        else:
            raise SystemExit(__doc__)
    epochs = None
    for i, arg in enumerate(program_args):
        if arg == "--epochs" and i + 1 < len(program_args):
            epochs = int(program_args[i + 1])
    if epochs is None:
        raise SystemExit("classifier_small.py: give --epochs N among the program's arguments")

    launcher = []
    if int(settings["--mpirun"]) > 0:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            print("SKIP: mpirun not found: install Debian's openmpi-bin and libopenmpi-dev (./dev does)")
            return 77
        launcher = [mpirun, "-np", settings["--mpirun"], "--oversubscribe"]
        if os.geteuid() == 0:
            launcher.append("--allow-run-as-root")
        os.environ.setdefault("TAPEGRAD_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="classifier_small.") as directory:
        data = os.path.join(directory, "data")
        history_csv = os.path.join(directory, "history.csv")
        history_svg = os.path.join(directory, "history.svg")
        checkpoint = os.path.join(directory, "checkpoint.safetensors")
        made = run([make_data, "--out", data, "--train", settings["--train"], "--test", settings["--test"]])
        if made.returncode != 0:
            return "making the data set failed"
        trained = run(launcher + [program, "--data", data, "--csv", history_csv, "--plot", history_svg, "--save", checkpoint]
                      + program_args)
        if trained.returncode != 0:
            return f"{os.path.basename(program)} exited with status {trained.returncode}"
        if "read into a new model gives the trained model's outputs" not in trained.stdout:
            return "the program did not check its checkpoint"
        if launcher:  # rank 0 alone prints, and says it trained data-parallel
            for line in ["read into a new model gives the trained model's outputs",
                         f"data-parallel over {settings['--mpirun']} processes"]:
                if trained.stdout.count(line) != 1:
                    return f"{line!r} printed {trained.stdout.count(line)} times, expected once (by rank 0)"
        for problem in [check_csv(history_csv, epochs), check_svg(history_svg, epochs)]:
            if problem:
                return problem
        with open(history_csv) as file:
            last = file.read().split()[-1].split(",")
        train_loss, test_accuracy = float(last[1]), float(last[3])
        if test_accuracy < float(settings["--min-test-accuracy"]):
            return f"test accuracy {test_accuracy} after {epochs} epochs, expected >= {settings['--min-test-accuracy']}"
        if train_loss > float(settings["--max-loss"]):
            return f"training loss {train_loss} in epoch {epochs}, expected <= {settings['--max-loss']}"
        print(f"{history_csv} and {history_svg} are well formed; test accuracy {test_accuracy} >= "
              f"{settings['--min-test-accuracy']}, training loss {train_loss} <= {settings['--max-loss']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
