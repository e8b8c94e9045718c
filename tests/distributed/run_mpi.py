#!/usr/bin/env python3
"""Runs a program as N processes under mpirun on this machine and checks how the job ended, for meson test.

  run_mpi.py [--np N] [--exit zero|nonzero] [--within SECONDS] [--contains TEXT]... [--once TEXT]...
             -- PROGRAM [ARGS...]
  run_mpi.py --skip REASON

  --np N         processes (default 2); 1 runs PROGRAM alone, without mpirun (MPI's singleton start)
  --exit         how the job must end (default zero)
  --within S     the job must end within S seconds (default 120); it is killed at 4 S (a hang)
  --contains T   the job's output (stdout and stderr, every rank) must contain T
  --once T       ... exactly once (one rank alone printed it)
  --skip REASON  print REASON and exit 77, meson's SKIP: the build found no MPI

Exit 77 (SKIP) with a message when mpirun is not installed. mpirun runs with --oversubscribe (the
machine may have fewer cores than processes) and, as root, --allow-run-as-root; each process gets one
kernel thread (TAPEGRAD_NUM_THREADS=1) unless the caller set it.
"""

import os
import shutil
import subprocess
import sys
import time

SKIP = 77


def main(argv):
    args = argv[1:]
    if args[:1] == ["--skip"]:
        print(f"SKIP: {' '.join(args[1:])}")
        return SKIP
    np_, expect_exit, within, contains, once = 2, "zero", 120.0, [], []
    while args and args[0] != "--":
        flag, value, args = args[0], args[1], args[2:]
        if flag == "--np":
            np_ = int(value)
        elif flag == "--exit":
            expect_exit = value
        elif flag == "--within":
            within = float(value)
        elif flag == "--contains":
            contains.append(value)
        elif flag == "--once":
            once.append(value)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    command = args[1:]
    env = dict(os.environ)
    env.setdefault("TAPEGRAD_NUM_THREADS", "1")
    if np_ > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            print("SKIP: mpirun not found: install Debian's openmpi-bin and libopenmpi-dev (./dev does)")
            return SKIP
        launcher = [mpirun, "-np", str(np_), "--oversubscribe"]
        if os.geteuid() == 0:
            launcher.append("--allow-run-as-root")
        command = launcher + command
    print("$ " + " ".join(command), flush=True)
    start = time.monotonic()
    try:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=4 * within)
        output, code = done.stdout, done.returncode
    except subprocess.TimeoutExpired as timeout:
        output = timeout.stdout.decode() if isinstance(timeout.stdout, bytes) else (timeout.stdout or "")
        print(output)
        print(f"FAILED: the job did not end within {4 * within:.0f} s: it hangs")
        return 1
    seconds = time.monotonic() - start
    print(output)
    print(f"the job ended with exit code {code} after {seconds:.1f} s")
    failures = []
    if (code == 0) != (expect_exit == "zero"):
        failures.append(f"exit code {code}, expected {expect_exit}")
    if seconds > within:
        failures.append(f"it took {seconds:.1f} s, more than {within:.0f} s")
    for text in contains:
        if text not in output:
            failures.append(f"the output lacks {text!r}")
    for text in once:
        if output.count(text) != 1:
            failures.append(f"the output has {text!r} {output.count(text)} times, expected once")
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("passed: " + ", ".join([f"exit code {code} ({expect_exit})", f"{seconds:.1f} s <= {within:.0f} s"] +
                                 [f"output has {text!r}" for text in contains] +
                                 [f"output has {text!r} once" for text in once]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
