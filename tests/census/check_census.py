#!/usr/bin/env python3
"""Checks that every public function of tapegrad has a row in the bad-input census, for meson test.

  check_census.py ROOT       compare ROOT's public headers with ROOT/tests/census/*.cpp; exit 1 and
                             name each public function without a row (and each row or exemption that
                             names no public function)
  check_census.py --list ROOT   print the public functions found, one a line
  check_census.py --self-test   prove on planted trees that a missing row and a stale row are found

Public functions are the declarations that carry a `///` comment (the project's rule for every public
declaration) in the public headers: the top of autograd/, nn/, optim/ and data/. Each is named by its
namespace below tapegrad (nn::, optim::, data::) and class: `conv2d`, `Tensor::item`,
`GradientTape::gradient`, `nn::Dense::Dense` (a constructor), `operator+`; overloads share a name.
A census row names the function it covers as the first argument of `row(`, `value_row(` or another
helper whose name ends in `row(` (`unary_row(`); a function
with nothing a caller could get wrong (an accessor of a valid object) is listed by `exempt("name",
"why")` instead. Both live in tests/census/*.cpp.
"""

import os
import re
import sys
import tempfile

FOLDERS = {"autograd": "", "nn": "nn::", "optim": "optim::", "data": "data::"}
CLASS = re.compile(r"^\s*(?:template\s*<[^>]*>\s*)?(class|struct)\s+(\w+)\b[^;]*$")
# A declaration's name: `name(` or `operator<sym>(` after a return type or at the start (a constructor).
FUNCTION = re.compile(r"(?:^|[\s*&:>])(operator\s*(?:\(\)|[^\s(]+)|~?\w+)\s*\(")
NOT_FUNCTIONS = {"if", "for", "while", "switch", "return", "sizeof", "static_assert", "decltype", "alignas",
                 "requires", "noexcept", "explicit", "static_cast", "reinterpret_cast", "const_cast"}
ROW = re.compile(r'\b(?:\w*row|exempt)\(\s*"([^"]+)"')


def strip_comments(line):
    """The code of a line, without its // comment."""
    return line.split("//", 1)[0]


def public_headers(root):
    """(path, namespace prefix) of each public header."""
    found = []
    for folder, prefix in FOLDERS.items():
        directory = os.path.join(root, folder)
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                if name.endswith(".hpp"):
                    found.append((os.path.join(directory, name), prefix))
    return found


def declared_functions(path, prefix):
    """The public functions a header declares: each declaration after a /// comment or with a ///< one."""
    names = set()
    classes = []  # (name, brace depth at which its body opened)
    depth = 0
    documented = False
    pending_class = None
    in_private = []  # per class: True after `private:` or `protected:`
    with open(path, encoding="utf-8") as header:
        lines = header.read().splitlines()
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("///"):
            documented = True
            continue
        code = strip_comments(line)
        if re.match(r"^\s*namespace\s+detail\s*\{", code):
            pending_class = "detail"  # internals a public header must declare: not public functions
        if re.match(r"^\s*template\s*<", code) and not code.rstrip().endswith(";") and "{" not in code:
            continue  # the declaration follows on the next line, still documented
        class_match = CLASS.match(code)
        if class_match and not code.rstrip().endswith(";"):
            pending_class = class_match.group(2)
        if classes and re.match(r"^\s*(private|protected)\s*:", code):
            in_private[-1] = True
        if classes and re.match(r"^\s*public\s*:", code):
            in_private[-1] = False
        trailing_doc = "///<" in line
        if (documented or trailing_doc) and stripped and not (classes and in_private[-1]):
            match = next((m for m in FUNCTION.finditer(code) if re.sub(r"\s+", "", m.group(1)) not in NOT_FUNCTIONS),
                         None)
            # `Initializer kernel_initializer = glorot_uniform();` is a member, not a function.
            assignment = re.search(r"(?<![=!<>])=(?!=)", code[:match.start(1)] if match else "")
            if match and not class_match and not assignment and not any(c == "detail" for c, _ in classes):
                name = re.sub(r"\s+", "", match.group(1))
                if not name.startswith("~"):
                    scope = "".join(f"{c}::" for c, _ in classes)
                    names.add(prefix + scope + name)
        if stripped and not stripped.startswith("//"):
            documented = False
        for char in code:
            if char == "{":
                depth += 1
                if pending_class is not None:
                    classes.append((pending_class, depth))
                    in_private.append(class_match is not None and class_match.group(1) == "class" and False)
                    pending_class = None
            elif char == "}":
                if classes and classes[-1][1] == depth:
                    classes.pop()
                    in_private.pop()
                depth -= 1
        if pending_class is not None and code.rstrip().endswith(";"):
            pending_class = None
    return names


def public_functions(root):
    """Every public function of the tree at root."""
    names = set()
    for path, prefix in public_headers(root):
        names |= declared_functions(path, prefix)
    return names


def census_names(root):
    """The names the census rows and exemptions cover."""
    names = set()
    directory = os.path.join(root, "tests", "census")
    for name in sorted(os.listdir(directory)):
        if name.endswith(".cpp"):
            with open(os.path.join(directory, name), encoding="utf-8") as source:
                names |= set(ROW.findall(source.read()))
    return names


def check(root, out=sys.stdout):
    """0 when the census covers every public function and names nothing else; else 1."""
    functions = public_functions(root)
    covered = census_names(root)
    missing = sorted(functions - covered)
    stale = sorted(covered - functions)
    for name in missing:
        print(f"census: public function {name} has no census row (tests/census/): add a row(\"{name}\", ...) "
              f"with a bad input, or exempt(\"{name}\", \"why nothing can be wrong\")", file=out)
    for name in stale:
        print(f"census: row or exemption for {name}, which no public header declares (renamed or removed?)",
              file=out)
    if not missing and not stale:
        print(f"census: all {len(functions)} public functions have a row or an exemption", file=out)
    return 1 if missing or stale else 0


def self_test():
    """Plants a tree with a covered function, an uncovered one and a stale row; checks what is reported."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "autograd"))
        os.makedirs(os.path.join(root, "nn"))
        os.makedirs(os.path.join(root, "tests", "census"))
        with open(os.path.join(root, "autograd", "ops.hpp"), "w", encoding="utf-8") as f:
            f.write("namespace tapegrad {\n/// y = e^x\nTensor exp(const Tensor& x);\n/// y = ln x\n"
                    "Tensor log(const Tensor& x);\nTensor undocumented(const Tensor& x);\n"
                    "/// A thing.\nclass Thing {\n public:\n  /// Its size.\n  int size() const;\n"
                    "  Tensor operator+(const Tensor& a) const;  ///< a plus\n private:\n  /// Internal.\n"
                    "  void hidden();\n  /// A member.\n  Initializer init = zeros();\n};\n"
                    "namespace detail {\n/// Internal.\nvoid internal();\n}\n/// Typed.\ntemplate <typename T>\n"
                    "T typed();\n}\n")
        with open(os.path.join(root, "nn", "dense.hpp"), "w", encoding="utf-8") as f:
            f.write("namespace tapegrad::nn {\n/// A layer.\nclass Dense : public Module {\n public:\n"
                    "  /// Makes one.\n  explicit Dense(int64_t units);\n};\n}\n")
        found = public_functions(root)
        expected = {"exp", "log", "Thing::size", "Thing::operator+", "typed", "nn::Dense::Dense"}
        if found != expected:
            print(f"self-test: found {sorted(found)}, expected {sorted(expected)}")
            return 1
        census = os.path.join(root, "tests", "census", "rows.cpp")
        with open(census, "w", encoding="utf-8") as f:
            f.write('row("exp", "x", [] { exp(Tensor()); });\nexempt("Thing::size", "an accessor");\n'
                    'value_row("Thing::operator+", "x", [] { return true; });\nrow("nn::Dense::Dense", "u", f);\n'
                    'row("gone", "x", f);\nexempt("typed", "t");\n')
        report = tempfile.TemporaryFile(mode="w+")
        status = check(root, report)
        report.seek(0)
        text = report.read()
        if status != 1 or "public function log has no census row" not in text or "for gone," not in text or \
                "exp has no" in text:
            print(f"self-test: the planted tree's report was wrong (status {status}):\n{text}")
            return 1
        with open(census, "a", encoding="utf-8") as f:
            f.write('row("log", "x", f);\n')
        with open(census, encoding="utf-8") as f:
            text = f.read().replace('row("gone", "x", f);\n', "")
        with open(census, "w", encoding="utf-8") as f:
            f.write(text)
        if check(root, open(os.devnull, "w", encoding="utf-8")) != 0:
            print("self-test: a fully covered tree failed")
            return 1
    print("self-test: a missing row, a stale row and a covered tree are each reported as they should be")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) == 3 and argv[1] == "--list":
        for name in sorted(public_functions(argv[2])):
            print(name)
        return 0
    if len(argv) == 2:
        return check(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
