#!/usr/bin/env python3
"""Opens tapegrad's tape explorer pages in headless Chromium and checks what they show.

  check_explorer.py PAGES_PROGRAM OUT_DIR SCREENSHOT.png

PAGES_PROGRAM (tests/browser/explorer_pages) writes the pages and expected.json into OUT_DIR. For
each page, Chromium loads it at #step=end (the page's script steps to the end of the backward
sweep) and prints the DOM; the test checks that

  - the page is at its last state, in the backward phase, with entry [0] (the last swept)
    highlighted in the list and in the SVG graph;
  - the adjoint table shows, for each source, exactly the gradient GradientTape::gradient returned
    (the numbers print in their shortest round-trip form, so the comparison is exact), marked final;
  - at the state where the sweep starts, only the target has an adjoint: the seed;
  - the page loads nothing: no src or href attribute, no url() but the SVG's own #arrow marker.

Then it takes a screenshot of a mid-sweep state of y = (x*w + b)^2 (SCREENSHOT.png, a build artefact).
Chromium missing: SKIP (exit 77) with a message. As root, Chromium runs with --no-sandbox (this test
only).
"""

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


class Dom(html.parser.HTMLParser):
    """The parts of a dumped explorer page the test reads."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.body = {}
        self.current_entries = []  # ids of <li class="... current ..."> elements
        self.current_nodes = []  # ids of SVG <g class="node current"> elements
        self.rows = []  # [node, label, adjoint, status] of the adjoint table
        self._row = None
        self._cell = None
        self.resources = []  # src=/href= attributes

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        for name in ("src", "href", "xlink:href"):
            if name in a:
                self.resources.append(f"<{tag} {name}={a[name]}>")
        if tag == "body":
            self.body = a
        elif tag == "li" and "current" in classes:
            self.current_entries.append(a.get("id"))
        elif tag == "g" and "node" in classes and "current" in classes:
            self.current_nodes.append(a.get("id"))
        elif tag == "tr" and "data-node" in a:
            self._row = [a["data-node"], "", "", ""]
        elif tag in ("th", "td") and self._row is not None:
            self._cell = 1 if tag == "th" else 2 if "adjoint" in classes else 3 if "status" in classes else None

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row is not None and self._cell is not None:
            self._row[self._cell] += data


def chromium_command(chromium, profile):
    command = [chromium, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    if os.geteuid() == 0:
        command.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return command


def dump_dom(chromium, profile, url):
    run = subprocess.run(chromium_command(chromium, profile) + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=180, check=False)
    if run.returncode != 0 or "<body" not in run.stdout:
        raise SystemExit(f"FAIL: chromium --dump-dom {url} exited {run.returncode}:\n{run.stderr[-2000:]}")
    dom = Dom()
    dom.feed(run.stdout)
    return dom, run.stdout


def flatten(value):
    if isinstance(value, list):
        return [x for v in value for x in flatten(v)]
    return [value]


def parse_tensor(text):
    """The numbers of a tensor printed as nested lists ("[[1.5, -2]]") or a scalar ("4")."""
    if "..." in text:
        raise SystemExit(f"FAIL: the page printed an elided tensor: {text}")
    return [float(v) for v in flatten(json.loads(text))]


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    pages_program, out_dir, screenshot = sys.argv[1:]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("SKIP: Chromium is not installed (Debian's chromium package; ./dev test installs it)")
        return SKIP
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([pages_program, out_dir], check=True)
    with open(os.path.join(out_dir, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)

    failures = []
    with tempfile.TemporaryDirectory(prefix="tapegrad-chromium-") as profile:
        for page in expected:
            path = os.path.abspath(os.path.join(out_dir, page["file"]))
            with open(path, encoding="utf-8") as f:
                source = f.read()
            last = page["entries"] + page["steps"]

            dom, _ = dump_dom(chromium, profile, f"file://{path}#step=end")
            what = f"{page['file']} at #step=end"
            checks = [
                (dom.body.get("data-state") == str(last), f"state {dom.body.get('data-state')}, expected {last}"),
                (dom.body.get("data-phase") == "backward", f"phase {dom.body.get('data-phase')}"),
                (dom.current_entries == ["entry-0"], f"highlighted entries {dom.current_entries}, expected entry-0"),
                (dom.current_nodes == ["e0"], f"highlighted graph nodes {dom.current_nodes}, expected e0"),
            ]
            shown = {label: (adjoint, status) for _, label, adjoint, status in dom.rows}
            for name, want in page["gradients"].items():
                if name not in shown:
                    checks.append((False, f"no adjoint row for source {name} (rows: {dom.rows})"))
                    continue
                adjoint, status = shown[name]
                got = parse_tensor(adjoint)
                checks.append((got == want, f"source {name}: the page shows {adjoint}, gradient returned {want}"))
                checks.append((status == "final", f"source {name}: status {status!r}, expected 'final'"))
            failures += [f"{what}: {message}" for ok, message in checks if not ok]
            print(f"{what}: {len(dom.rows)} adjoints shown; sources " +
                  ", ".join(f"{n} = {shown.get(n, ('?',))[0]}" for n in page["gradients"]))

            # The start of the sweep: the target alone has an adjoint, the seed (ones).
            seed_state = page["entries"]
            dom, _ = dump_dom(chromium, profile, f"file://{path}#step={seed_state}")
            with_adjoint = [(node, adjoint) for node, _, adjoint, _ in dom.rows if adjoint]
            if dom.body.get("data-phase") != "seed" or len(with_adjoint) != 1 or \
                    set(parse_tensor(with_adjoint[0][1])) != {1.0}:
                failures.append(f"{page['file']} at #step={seed_state}: phase {dom.body.get('data-phase')}, "
                                f"adjoints {with_adjoint}; expected the seed on the target alone")

            # Self-contained: nothing to fetch.
            fetched = re.findall(r"""\b(?:src|href)\s*=|url\((?!#arrow\))|@import""", source) + dom.resources
            if fetched:
                failures.append(f"{page['file']}: refers to outside resources: {fetched[:5]}")

        # A mid-sweep screenshot of y = (x*w + b)^2: after the sweep's second step (add).
        shown_page = next((p for p in expected if p["file"] == "affine-graphviz.html"), expected[0])
        state = shown_page["entries"] + 2
        path = os.path.abspath(os.path.join(out_dir, shown_page["file"]))
        if os.path.exists(screenshot):
            os.remove(screenshot)
        run = subprocess.run(chromium_command(chromium, profile) + [
            f"--screenshot={os.path.abspath(screenshot)}", "--window-size=1400,820", "--hide-scrollbars",
            f"file://{path}#step={state}"], capture_output=True, text=True, timeout=180, check=False)
        ok = run.returncode == 0 and os.path.exists(screenshot)
        with open(screenshot, "rb") if ok else open(os.devnull, "rb") as f:
            png = f.read()
        if not ok or not png.startswith(b"\x89PNG") or len(png) < 10000:
            failures.append(f"screenshot of {shown_page['file']}#step={state}: exit {run.returncode}, "
                            f"{len(png)} bytes\n{run.stderr[-1000:]}")
        else:
            print(f"screenshot of {shown_page['file']}#step={state}: {screenshot} ({len(png)} bytes)")

    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
