#!/usr/bin/env python3
"""Prints tapegrad's benchmark table from Google Benchmark's JSON output.

Every figure is the median of the repetitions, and every target is a ratio to a figure of the same
run (the machine's own FMA peak, or a plain loop), so the table holds on a noisy shared machine.
Usage: report.py RESULTS.json
"""

import json
import re
import sys


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = data["benchmarks"]
    if any(b.get("run_type") == "aggregate" for b in runs):
        # Medians; a benchmark that runs once (lenet_epoch: Repetitions(1)) has no aggregate and keeps its run.
        aggregated = {b["run_name"] for b in runs if b.get("run_type") == "aggregate"}
        runs = [b for b in runs if b.get("aggregate_name") == "median" or b["run_name"] not in aggregated]
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
        untaped = find(m, "d2l_loop_untaped")
        if untaped:
            row("d2l_loop: the same ops without a tape / plain loops",
                f"{seconds(untaped) * 1e6:.1f} us = {seconds(untaped) / seconds(plain):.0f}x")
    add = find(m, "op_overhead_add")
    if add:
        ns = seconds(add) * 1e9
        row("one-element add, forward + backward", f"{ns:.0f} ns", f"<= 100 ns: {verdict(ns <= 100)}")
    chain = find(m, "op_overhead_chain_100")
    if chain:
        row("chain of 100 adds, per op", f"{seconds(chain) * 1e9 / 100:.0f} ns")

    def share(g):
        return f" ({100 * g / p1:.0f}% of peak)" if p1 else ""

    def target_share(g, target):
        if not p1:
            return ""
        return f">= {target}% of peak: {verdict(100 * g / p1 >= target)}"

    # conv2d_{forward,backward}/case:C/threads:T: issue 5's targets are on 1 thread (case 0: forward 70%,
    # backward 60%, 2 threads 1.8x as fast; cases 1-3: forward and backward together 25%).
    conv = {}
    for name, b in m.items():
        match = re.match(r"conv2d_(forward|backward)/case:(\d+)/threads:(\d+)", name)
        if match:
            conv[(match[1], int(match[2]), int(match[3]))] = b
    targets = {("forward", 0): 70, ("backward", 0): 60}
    for (direction, case, threads), b in sorted(conv.items(), key=lambda item: (item[0][1], item[0][0] != "forward", item[0][2])):
        g = b["GFLOP/s"]
        target = targets.get((direction, case)) if threads == 1 else None
        row(f"conv2d {direction} {b.get('label', name)}, {threads} thread{'s' if threads > 1 else ''}",
            f"{g:.1f} GFLOP/s{share(g)}", target_share(g, target) if target else "")
        if case == 0 and threads == 2 and (direction, case, 1) in conv:
            speedup = g / conv[(direction, case, 1)]["GFLOP/s"]
            row(f"conv2d {direction} {b.get('label', name)}, 2 threads / 1", f"{speedup:.2f}x",
                f">= 1.8x: {verdict(speedup >= 1.8)}")
    for case in sorted({case for (_, case, _) in conv if case > 0}):
        forward, backward = conv.get(("forward", case, 1)), conv.get(("backward", case, 1))
        if not (forward and backward):
            continue
        # Flops over time of one forward and one backward pass: (fwd flops + bwd flops) / (fwd time + bwd time).
        time = seconds(forward) + seconds(backward)
        g = (forward["GFLOP/s"] * seconds(forward) + backward["GFLOP/s"] * seconds(backward)) / time
        row(f"conv2d forward + backward {forward.get('label', '')}, 1 thread", f"{g:.1f} GFLOP/s{share(g)}",
            target_share(g, 25))

    matmul = {}
    for name, b in m.items():
        match = re.match(r"matmul_square/n:(\d+)/threads:(\d+)", name)
        if match:
            matmul[(int(match[1]), int(match[2]))] = b
    for (n, threads), b in sorted(matmul.items()):
        g = b["GFLOP/s"]
        row(f"matmul {n}^3, {threads} thread{'s' if threads > 1 else ''}", f"{g:.1f} GFLOP/s{share(g)}",
            target_share(g, 75) if threads == 1 else "")

    # The same products with tapegrad's AVX2 kernel (a CPU without AVX-512) and through OpenBLAS.
    for variant in ("avx2", "openblas"):
        found = {}
        for name, b in m.items():
            match = re.match(rf"matmul_square_{variant}/n:(\d+)/threads:(\d+)", name)
            if match and "GFLOP/s" in b:
                found[(int(match[1]), int(match[2]))] = b
        for (n, threads), b in sorted(found.items()):
            g = b["GFLOP/s"]
            what = "tapegrad's AVX2 kernel" if variant == "avx2" else f"OpenBLAS ({b.get('label', '?')} kernels)"
            versus = ""
            if variant == "openblas":
                ours = matmul.get((n, threads))
                avx2 = find(m, f"matmul_square_avx2/n:{n}/threads:{threads}/")
                parts = [f"tapegrad {ours['GFLOP/s'] / g:.2f}x"] if ours else []
                if avx2 and "GFLOP/s" in avx2:
                    parts.append(f"its AVX2 kernel {avx2['GFLOP/s'] / g:.2f}x")
                versus = f" ({', '.join(parts)})" if parts else ""
            row(f"matmul {n}^3, {threads} thread{'s' if threads > 1 else ''}, {what}", f"{g:.1f} GFLOP/s{versus}")

    # lenet_epoch/threads:T: one run of two epochs each (bench/lenet.cpp); issue 5's targets are on 2 threads.
    lenet = {}
    for name, b in m.items():
        match = re.match(r"lenet_epoch/threads:(\d+)", name)
        if match:
            lenet[int(match[1])] = b
    for threads, b in sorted(lenet.items(), reverse=True):
        what = f"lenet_epoch, {threads} thread{'s' if threads > 1 else ''}"
        data = b.get("label", "").split(",")[0] or "?"
        epoch = seconds(b)
        row(f"{what}: seconds per epoch ({data}, 60,000 images, batch 256)", f"{epoch:.2f} s",
            f"<= 2 s: {verdict(epoch <= 2)}" if threads == 2 else "")
        row(f"{what}: examples per second", f"{b.get('examples/s', 0):.0f}")
        cpu = b["cpu_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        row(f"{what}: CPU seconds per epoch, all threads", f"{cpu:.2f} s")
        if "peak_rss_MiB" in b:
            peak = b["peak_rss_MiB"]
            row(f"{what}: peak resident memory", f"{peak:.0f} MiB", f"< 150 MiB: {verdict(peak < 150)}")
        if "rss_growth_MiB" in b:
            growth = b["rss_growth_MiB"]
            row(f"{what}: resident memory growth, epoch 1 -> 2", f"{growth:+.1f} MiB",
                f"flat (< 1 MiB): {verdict(abs(growth) < 1)}")

    # Issue 15 (bench/normalization.cpp): effective bandwidth of each forward + backward, as a share of a
    # copy of the same bytes on as many threads; the target: batch normalization at half the copy's or better.
    copies = {}
    for name, b in m.items():
        match = re.match(r"bn_copy_same_bytes/threads:(\d+)", name)
        if match:
            copies[int(match[1])] = b
    for threads, b in sorted(copies.items()):
        row(f"copy of 32x28x28x64 float32, {threads} thread{'s' if threads > 1 else ''}", f"{b['GB/s']:.1f} GB/s")
    for bench in ("batch_norm_training_forward_backward", "layer_batch_normalization", "batch_norm_inference_forward",
                  "dropout_forward_backward", "layer_dropout", "layer_global_average_pooling2d", "layer_add"):
        for name, b in sorted(m.items()):
            match = re.match(rf"{bench}/threads:(\d+)", name)
            if not match:
                continue
            threads = int(match[1])
            copy = copies.get(threads)
            share = b["GB/s"] / copy["GB/s"] if copy else None
            target = ""
            if bench == "batch_norm_training_forward_backward" and share is not None:
                target = f">= 0.5 of the copy: {verdict(share >= 0.5)}"
            row(f"{bench}, {threads} thread{'s' if threads > 1 else ''}",
                f"{seconds(b) * 1e3:.2f} ms, {b['GB/s']:.1f} GB/s" + (f" ({share:.2f} of the copy)" if share else ""),
                target)

    width = [max(len(r[i]) for r in rows + [("figure", "median", "target")]) for i in range(3)]
    print(f"{'figure':<{width[0]}}  {'median':<{width[1]}}  target")
    print(f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}")
    for what, value, target in rows:
        print(f"{what:<{width[0]}}  {value:<{width[1]}}  {target}")
    if context:
        print(f"\n{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, {context.get('date', '')}")


if __name__ == "__main__":
    main()
