#!/usr/bin/env python3
"""Prints tapegrad's benchmark table from Google Benchmark's JSON output.

Every figure is the median of the repetitions, and every target is a ratio to a figure of the same
run (the machine's own FMA peak, or a plain loop), so the table holds on a noisy shared machine.
Usage: report.py RESULTS.json
"""

import json
import sys


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = data["benchmarks"]
    if any(b.get("run_type") == "aggregate" for b in runs):
        runs = [b for b in runs if b.get("aggregate_name") == "median"]
    return data.get("context", {}), {b["run_name"]: b for b in runs}


def seconds(b):
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return b["real_time"] * scale


def find(medians, prefix):
    for name, b in medians.items():
        if name.startswith(prefix):
            return b
    return None


def verdict(ok):
    return "meets" if ok else "MISSES"


def main():
    context, m = load(sys.argv[1])
    rows = []

    def row(what, value, target=""):
        rows.append((what, value, target))

    peak1 = find(m, "peak_fma_1_thread")
    peak_all = find(m, "peak_fma_all_threads")
    bandwidth = find(m, "peak_memory_bandwidth")
    p1 = peak1["GFLOP/s"] if peak1 else None
    if peak1:
        row("peak FMA, 1 thread", f"{p1:.1f} GFLOP/s")
    if peak_all:
        row(f"peak FMA, {int(peak_all['threads'])} threads", f"{peak_all['GFLOP/s']:.1f} GFLOP/s")
    if bandwidth:
        row("memory bandwidth (copy)", f"{bandwidth['GB/s']:.1f} GB/s")

    loop, plain = find(m, "d2l_loop_tapegrad"), find(m, "d2l_loop_plain")
    if loop and plain:
        ratio = seconds(loop) / seconds(plain)
        row("d2l_loop: tapegrad / plain loops", f"{seconds(loop) * 1e6:.1f} us / {seconds(plain) * 1e6:.2f} us = {ratio:.0f}x",
            f"<= 12x: {verdict(ratio <= 12)}")
    add = find(m, "op_overhead_add")
    if add:
        ns = seconds(add) * 1e9
        row("one-element add, forward + backward", f"{ns:.0f} ns", f"<= 100 ns: {verdict(ns <= 100)}")
    chain = find(m, "op_overhead_chain_100")
    if chain:
        row("chain of 100 adds, per op", f"{seconds(chain) * 1e9 / 100:.0f} ns")

    for direction in ("forward", "backward"):
        for name, b in sorted(m.items()):
            if not name.startswith(f"conv2d_{direction}/"):
                continue
            g = b["GFLOP/s"]
            share = f" ({100 * g / p1:.0f}% of peak)" if p1 else ""
            threads = f", {int(b['threads'])} threads" if "threads" in b else ""
            row(f"conv2d {direction} {b.get('label', name)}{threads}", f"{g:.1f} GFLOP/s{share}")
    for name, b in sorted(m.items()):
        if name.startswith("matmul_square/"):
            g = b["GFLOP/s"]
            share = 100 * g / p1 if p1 else 0
            row(f"matmul {name.split('/')[1]}^3", f"{g:.1f} GFLOP/s ({share:.0f}% of peak)",
                f">= 75%: {verdict(share >= 75)}")
    epoch = find(m, "lenet_epoch")
    if epoch:
        row("lenet_epoch (60,000 images, batch 256)", f"{seconds(epoch):.2f} s, {epoch.get('examples/s', 0):.0f} examples/s",
            f"<= 2 s: {verdict(seconds(epoch) <= 2)}")
        if "peak_rss_MiB" in epoch:
            row("lenet_epoch peak resident memory", f"{epoch['peak_rss_MiB']:.0f} MiB",
                f"< 150 MiB: {verdict(epoch['peak_rss_MiB'] < 150)}")

    width = [max(len(r[i]) for r in rows + [("figure", "median", "target")]) for i in range(3)]
    print(f"{'figure':<{width[0]}}  {'median':<{width[1]}}  target")
    print(f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}")
    for what, value, target in rows:
        print(f"{what:<{width[0]}}  {value:<{width[1]}}  {target}")
    if context:
        print(f"\n{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, {context.get('date', '')}")


if __name__ == "__main__":
    main()
