#!/usr/bin/env python3
"""Runs example programs for meson test.

  same_output.py -- A... -- B...
      runs commands A and B; passes when both exit 0 and print the same standard output.
  same_output.py --exit-code N [--stderr-contains TEXT] -- A...
      runs command A; passes when it exits with status N (and its stderr contains TEXT).
"""

import subprocess
import sys


def split_commands(args):
    commands, current = [], None
    for arg in args:
        if arg == "--":
            current = []
            commands.append(current)
        elif current is None:
            raise SystemExit(f"same_output.py: expected '--' before the command, got {arg!r}")
        else:
            current.append(arg)
    return commands


def run(command):
    return subprocess.run(command, capture_output=True, text=True, check=False)


def main():
    args = sys.argv[1:]
    exit_code, stderr_contains = None, None
    while args and args[0] != "--":
        if args[0] == "--exit-code" and len(args) > 1:
            exit_code, args = int(args[1]), args[2:]
        elif args[0] == "--stderr-contains" and len(args) > 1:
            stderr_contains, args = args[1], args[2:]
        else:
            raise SystemExit(__doc__)
    commands = split_commands(args)

    if exit_code is not None:
        if len(commands) != 1:
            raise SystemExit(__doc__)
        result = run(commands[0])
        print(f"$ {' '.join(commands[0])}\n(exit {result.returncode})\nstdout:\n{result.stdout}stderr:\n{result.stderr}")
        if result.returncode != exit_code:
            return f"expected exit status {exit_code}, got {result.returncode}"
        if stderr_contains is not None and stderr_contains not in result.stderr:
            return f"expected stderr to contain {stderr_contains!r}"
        return 0

    if len(commands) != 2:
        raise SystemExit(__doc__)
    results = [run(command) for command in commands]
    for command, result in zip(commands, results):
        print(f"$ {' '.join(command)}\n(exit {result.returncode})\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            return f"{' '.join(command)} exited with status {result.returncode}"
    if results[0].stdout != results[1].stdout:
        return "the two commands printed different output"
    if not results[0].stdout:
        return "the commands printed nothing"
    return 0


if __name__ == "__main__":
    sys.exit(main())
