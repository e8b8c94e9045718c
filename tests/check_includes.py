#!/usr/bin/env python3
"""Checks that the public surface includes only public headers, for meson test.

  check_includes.py ROOT       check the tree at ROOT; exit 1 and name file:line for each violation
  check_includes.py --self-test

Public headers are the headers at the top of autograd/, nn/, optim/, data/ and distributed/, and the
umbrellas in include/tapegrad/: all that a user (and nn/, optim/, data/, examples/) includes, as
`#include <tapegrad/...>`. Internal headers are those under autograd/ops/, autograd/kernels/,
autograd/detail/ and distributed/detail/ (which alone includes <mpi.h>). Checked: every public header, and every file in nn/, optim/, data/ and examples/.
Each of their includes must not
  - reach an internal header, by <tapegrad/...>, by a quoted path or by a path with "..", nor
  - be a quoted path found only from the repository root (such as "autograd/tensor.hpp"): that root is
    on the include path of the library's own build, not of a user's.
A quoted path next to the including file ("check.hpp" in examples/) is fine when it is not internal.
"""

import os
import re
import sys
import tempfile

FOLDERS = ("autograd", "nn", "optim", "data", "distributed")
INTERNAL = ("autograd/ops", "autograd/kernels", "autograd/detail", "distributed/detail")
CHECKED_TREES = ("nn", "optim", "data", "examples")
SOURCE_SUFFIXES = (".hpp", ".h", ".cpp", ".cc", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def is_internal(path):
    """Whether `path` (relative to the root, '/'-separated) is an internal header."""
    return any(path == folder or path.startswith(folder + "/") for folder in INTERNAL)


def public_headers(root):
    """The public headers, relative to root."""
    found = []
    for folder in FOLDERS:
        directory = os.path.join(root, folder)
        if os.path.isdir(directory):
            found += [f"{folder}/{name}" for name in sorted(os.listdir(directory)) if name.endswith((".hpp", ".h"))]
    umbrellas = os.path.join(root, "include", "tapegrad")
    if os.path.isdir(umbrellas):
        for name in sorted(os.listdir(umbrellas)):
            path = os.path.join(umbrellas, name)
            if name.endswith((".hpp", ".h")) and os.path.isfile(path) and not os.path.islink(path):
                found.append(f"include/tapegrad/{name}")
    return found


def checked_sources(root):
    """Every source file under nn/, optim/, data/ and examples/, relative to root."""
    found = []
    for tree in CHECKED_TREES:
        for directory, subdirectories, names in os.walk(os.path.join(root, tree)):
            subdirectories.sort()
            for name in sorted(names):
                if name.endswith(SOURCE_SUFFIXES):
                    found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
    return found


def resolve_tapegrad(path):
    """What <tapegrad/PATH> names, relative to the root: include/tapegrad/ holds the umbrellas and links
    autograd, nn, optim, data and distributed to the folders."""
    first = path.split("/", 1)[0]
    return os.path.normpath(path).replace(os.sep, "/") if first in FOLDERS else f"include/tapegrad/{path}"


def violations_in(root, file):
    """(line number, message) for each bad include in `file` (relative to root)."""
    found = []
    directory = os.path.dirname(file)
    with open(os.path.join(root, file), encoding="utf-8", errors="replace") as source:
        for number, line in enumerate(source, 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            bracket, path = match.groups()
            shown = f"{bracket}{path}{'>' if bracket == '<' else chr(34)}"
            if bracket == "<":
                if path.startswith("tapegrad/") and is_internal(resolve_tapegrad(path[len("tapegrad/"):])):
                    found.append((number, f"includes the internal header {shown}"))
                continue
            beside = os.path.normpath(os.path.join(directory, path)).replace(os.sep, "/")
            from_root = os.path.normpath(path).replace(os.sep, "/")
            if is_internal(beside) or (not os.path.exists(os.path.join(root, beside)) and is_internal(from_root)):
                found.append((number, f"includes the internal header {shown}"))
            elif not os.path.exists(os.path.join(root, beside)) and os.path.exists(os.path.join(root, from_root)):
                found.append(
                    (number, f"includes {shown} from the repository root, which a user's build lacks; "
                     f"write <tapegrad/{from_root}>" if from_root.split("/")[0] in FOLDERS else
                     f"includes {shown} from the repository root, which a user's build lacks"))
    return found


def check(root):
    """Every violation under root, as 'file:line: message' lines."""
    report = []
    for file in public_headers(root) + checked_sources(root):
        for number, message in violations_in(root, file):
            report.append(f"{file}:{number}: {message}")
    return report


def self_test():
    """Builds a small tree with one violation of each kind and a few good includes; checks that exactly
    the violations are reported, with their lines."""
    files = {
        "autograd/tensor.hpp": '#pragma once\n#include <vector>\n#include "shape.hpp"\n',
        "autograd/shape.hpp": "#pragma once\n",
        "autograd/tape.hpp": '#pragma once\n#include <tapegrad/autograd/tensor.hpp>\n#include "detail/small_vector.hpp"\n',
        "autograd/ops.hpp": '#include "autograd/tensor.hpp"\n// #include "autograd/kernels/gemm.hpp" is a comment\n',
        "autograd/threads.hpp": "#include <tapegrad/autograd/kernels/parallel.hpp>\n",
        "autograd/detail/small_vector.hpp": "#pragma once\n",
        "autograd/kernels/parallel.hpp": "#pragma once\n",
        "autograd/kernels/gemm.cpp": '#include "autograd/kernels/parallel.hpp"\n',  # internal may include internal
        "autograd/ops/record.hpp": "#pragma once\n",
        "nn/dense.hpp": "#pragma once\n#include <tapegrad/autograd/tensor.hpp>\n",
        "nn/dense.cpp": '#include <tapegrad/nn/dense.hpp>\n\n#include "autograd/ops/record.hpp"\n',
        "optim/sgd.cpp": '#include "../autograd/kernels/parallel.hpp"\n',
        "data/idx.cpp": '#include "data/idx.hpp"\n',
        "data/idx.hpp": "#pragma once\n",
        "examples/check.hpp": "#pragma once\n",
        "distributed/distributed.hpp": '#pragma once\n#include <tapegrad/autograd/tensor.hpp>\n#include "detail/mpi.hpp"\n',
        "distributed/detail/mpi.hpp": "#pragma once\n",
        "distributed/environment.cpp": '#include "distributed/detail/mpi.hpp"\n',  # its own sources may
        "examples/lenet/model.hpp": '#pragma once\n#include "../check.hpp"\n',
        "examples/demo.cpp": '#include "check.hpp"\n#include <tapegrad/tapegrad.hpp>\n  #  include   <tapegrad/autograd/detail/small_vector.hpp>\n',
        "include/tapegrad/tapegrad.hpp": '#pragma once\n#include <tapegrad/autograd/tensor.hpp>\n#include <tapegrad/autograd/ops/record.hpp>\n',
    }
    expected = sorted([
        "autograd/tape.hpp:3: includes the internal header \"detail/small_vector.hpp\"",
        "autograd/ops.hpp:1: includes \"autograd/tensor.hpp\" from the repository root, which a user's build lacks; "
        "write <tapegrad/autograd/tensor.hpp>",
        "autograd/threads.hpp:1: includes the internal header <tapegrad/autograd/kernels/parallel.hpp>",
        "nn/dense.cpp:3: includes the internal header \"autograd/ops/record.hpp\"",
        "optim/sgd.cpp:1: includes the internal header \"../autograd/kernels/parallel.hpp\"",
        "data/idx.cpp:1: includes \"data/idx.hpp\" from the repository root, which a user's build lacks; "
        "write <tapegrad/data/idx.hpp>",
        "examples/demo.cpp:3: includes the internal header <tapegrad/autograd/detail/small_vector.hpp>",
        "include/tapegrad/tapegrad.hpp:3: includes the internal header <tapegrad/autograd/ops/record.hpp>",
        "distributed/distributed.hpp:3: includes the internal header \"detail/mpi.hpp\"",
    ])
    with tempfile.TemporaryDirectory() as root:
        for path, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as out:
                out.write(text)
        got = sorted(check(root))
    if got != expected:
        print("check_includes.py --self-test FAILED")
        print("expected:\n  " + "\n  ".join(expected))
        print("got:\n  " + "\n  ".join(got))
        return 1
    print(f"check_includes.py --self-test: the {len(expected)} planted violations found, nothing else")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    checked = public_headers(root) + checked_sources(root)
    report = check(root)
    for line in report:
        print(line)
    if report:
        print(f"check_includes.py: {len(report)} include(s) of internal headers from the public surface (see the list above)")
        return 1
    print(f"check_includes.py: {len(checked)} files checked (public headers, nn/, optim/, data/, examples/): "
          "no internal include")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
