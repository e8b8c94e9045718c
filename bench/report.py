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
    # Per CPU second: the yardsticks of the 1-thread figures in CPU time (the profile), which hold on a busy host.
    p1_cpu = peak1.get("cpu_GFLOP/s") if peak1 else None
    bw_cpu = bandwidth.get("cpu_GB/s") if bandwidth else None
    if p1_cpu:
        row("peak FMA, 1 thread, per CPU second", f"{p1_cpu:.1f} GFLOP/s")
    if bw_cpu:
        row("memory bandwidth (copy), per CPU second", f"{bw_cpu:.1f} GB/s")

    loop, plain = find(m, "d2l_loop_tapegrad"), find(m, "d2l_loop_plain")
    if loop and plain:
        ratio = seconds(loop) / seconds(plain)
        row("d2l_loop: tapegrad / plain loops", f"{seconds(loop) * 1e6:.1f} us / {seconds(plain) * 1e6:.2f} us = {ratio:.0f}x",
            f"<= 12x: {verdict(ratio <= 12)}")
        row("d2l_loop: no slower than before issue 17 (20x at 43acc40, bench/README.md)", f"{ratio:.0f}x",
            f"<= 20x: {verdict(ratio <= 20.5)}")
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

    # resnet_epoch/threads:T (bench/resnet.cpp): timed steps of the example's ResNet; an epoch's seconds are
    # a step's times the steps of 60,000 images. Issue 17's target: 50% of its FLOP limit on 1 thread.
    resnet = {}
    for name, b in m.items():
        match = re.match(r"resnet_epoch/threads:(\d+)", name)
        if match:
            resnet[int(match[1])] = b
    for threads, b in sorted(resnet.items()):
        what = f"resnet_epoch, {threads} thread{'s' if threads > 1 else ''}"
        data = b.get("label", "").split(",")[0] or "?"
        steps = b.get("steps_per_epoch", 468.75)
        row(f"{what}: seconds per epoch ({data}, {steps:.0f} steps of 128, from {b['iterations']} timed)",
            f"{seconds(b) * steps:.0f} s")
        row(f"{what}: images per second", f"{b['images/s']:.0f}")
        if threads == 1 and p1:
            share = b["flops_per_image"] * b["images/s"] / (p1 * 1e9)
            row(f"{what}: share of its FLOP limit ({b['flops_per_image'] / 1e6:.0f} MFLOP an image)", f"{share:.0%}",
                f">= 50%: {verdict(share >= 0.5)}")
        row(f"{what}: peak resident memory of the run", f"{b['peak_rss_MiB']:.0f} MiB")
    if 1 in resnet and 2 in resnet:
        row("resnet_epoch, 2 threads / 1 (wall time)", f"{resnet[2]['images/s'] / resnet[1]['images/s']:.2f}x")

    # Issue 15 (bench/normalization.cpp): effective bandwidth of each forward + backward, as a share of a
    # copy of the same bytes on as many threads; the target: batch normalization at half the copy's or better.
    copies, footprint_copies, floors = {}, {}, {}
    for name, b in m.items():
        match = re.match(r"bn_copy_(same_bytes|working_set)/threads:(\d+)", name)
        if match:
            (copies if match[1] == "same_bytes" else footprint_copies)[int(match[2])] = b
        match = re.match(r"bn_four_passes_floor/threads:(\d+)", name)
        if match:
            floors[int(match[1])] = b
    for threads, b in sorted(copies.items()):
        row(f"copy of 32x28x28x64 float32, {threads} thread{'s' if threads > 1 else ''}", f"{b['GB/s']:.1f} GB/s")
    for threads, b in sorted(footprint_copies.items()):
        row(f"two such copies, 4 buffers (BN's footprint), {threads} thread{'s' if threads > 1 else ''}",
            f"{b['GB/s']:.1f} GB/s")
    # The floor of any four-pass batch normalization: its reads and writes as plain loops.
    for threads, b in sorted(floors.items()):
        copy = copies.get(threads)
        share = f" ({b['GB/s'] / copy['GB/s']:.2f} of the copy)" if copy else ""
        row(f"BN's four passes as plain loops (the floor), {threads} thread{'s' if threads > 1 else ''}",
            f"{seconds(b) * 1e3:.2f} ms, {b['GB/s']:.1f} GB/s{share}")
    for bench in ("batch_norm_training_forward_backward", "layer_batch_normalization", "batch_norm_inference_forward",
                  "dropout_forward_backward", "layer_dropout", "layer_global_average_pooling2d", "layer_add"):
        for name, b in sorted(m.items()):
            match = re.match(rf"{bench}/threads:(\d+)", name)
            if not match:
                continue
            threads = int(match[1])
            copy, footprint = copies.get(threads), footprint_copies.get(threads)
            share = b["GB/s"] / copy["GB/s"] if copy else None
            value = f"{seconds(b) * 1e3:.2f} ms, {b['GB/s']:.1f} GB/s" + (f" ({share:.2f} of the copy" if share else "")
            if share and footprint and bench.startswith(("batch_norm_training", "layer_batch")):
                value += f", {b['GB/s'] / footprint['GB/s']:.2f} at BN's footprint"
                if threads in floors:
                    value += f", {b['GB/s'] / floors[threads]['GB/s']:.2f} of the floor"
            value += ")" if share else ""
            target = ""
            if bench == "batch_norm_training_forward_backward" and share is not None:
                target = f">= 0.5 of the copy: {verdict(share >= 0.5)}"
            row(f"{bench}, {threads} thread{'s' if threads > 1 else ''}", value, target)

    profiles = load_profiles(m)
    bw = bandwidth["GB/s"] if bandwidth else None
    p_all = peak_all["GFLOP/s"] if peak_all else None
    lenet_targets(row, profiles, lenet, p1, p1_cpu or p1)

    # lenet_10_epochs_memory: issue 16's long run, ten epochs of 6,000 images (bench/lenet.cpp).
    long_run = m.get("lenet_10_epochs_memory/iterations:10/repeats:1/process_time/real_time") or next(
        (b for name, b in m.items() if name.startswith("lenet_10_epochs_memory")), None)
    if long_run:
        what = "lenet, 10 epochs of 6,000 images, 2 threads"
        row(f"{what}: seconds in all", f"{seconds(long_run) * 10:.1f} s")
        row(f"{what}: peak resident memory", f"{long_run.get('peak_rss_MiB', 0):.0f} MiB")
        growth = long_run.get("rss_growth_MiB", 0)
        row(f"{what}: resident memory growth, epoch 1 -> 10", f"{growth:+.1f} MiB",
            f"flat (< 1 MiB): {verdict(abs(growth) < 1)}")
        cached = long_run.get("cached_growth_KiB", 0)
        row(f"{what}: allocator cached bytes growth, epoch 1 -> 10", f"{cached:+.0f} KiB",
            f"flat (<= 0): {verdict(cached <= 0)}")

    print_table(["figure", "median", "target"], rows)
    for profile in profiles:
        print()
        if profile["threads"] == 1:
            print_profile(profile, p1_cpu or p1, bw_cpu or bw)
        else:
            print_profile(profile, p_all, bw)
    if context:
        print(f"\n{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, {context.get('date', '')}")


def print_table(header, rows):
    width = [max(len(r[i]) for r in rows + [tuple(header)]) for i in range(len(header))]
    print("  ".join(f"{h:<{w}}" for h, w in zip(header, width)).rstrip())
    print("  ".join("-" * w for w in width))
    for r in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(r, width)).rstrip())


def load_profiles(m):
    """profile/<model>/threads:T (bench/profile.cpp): one step layer by layer, medians over its steps."""
    profiles = []
    for name, b in m.items():
        match = re.match(r"profile/([^/]+)/threads:(\d+)", name)
        if not match or "label" not in b:
            continue
        model, threads, data, batch, names = b["label"].split("|", 4)
        # One thread: the process's CPU time, which other work on a shared host barely changes; more
        # threads: wall time (CPU time would count the threads' waiting).
        clock = "cpu_s_" if int(threads) == 1 else "s_"
        layers = []
        for i, layer in enumerate(names.split(";")):
            k = f"{i:02}"
            layers.append({
                "name": layer,
                "fwd": b[f"fwd_{clock}{k}"], "bwd": b[f"bwd_{clock}{k}"],
                "fwd_flop": b[f"fwd_flop_{k}"], "bwd_flop": b[f"bwd_flop_{k}"],
                "fwd_byte": b[f"fwd_byte_{k}"], "bwd_byte": b[f"bwd_byte_{k}"],
            })
        step = b["step_cpu_s" if int(threads) == 1 else "step_s"]
        profiles.append({"model": model, "threads": int(threads), "data": data, "batch": batch,
                         "layers": layers, "step": step, "clock": "CPU time" if int(threads) == 1 else "wall time",
                         "iterations": int(b.get("iterations", 0)),
                         "flop_per_example": b["flop_per_example"], "fresh": b.get("fresh_bytes_per_step", -1),
                         "fresh_max": b.get("fresh_bytes_max", -1)})
    return sorted(profiles, key=lambda p: (p["model"], p["threads"]))


def efficiency(seconds, flop, byte, peak, bandwidth):
    """GFLOP/s against the FMA peak, or GB/s against the copy bandwidth; '' for no work."""
    if seconds <= 0:
        return ""
    if flop > 0:
        g = flop / seconds * 1e-9
        return f"{g:.0f} GFLOP/s" + (f" = {100 * g / peak:.0f}% of peak" if peak else "")
    if byte > 0:
        g = byte / seconds * 1e-9
        return f"{g:.1f} GB/s" + (f" = {100 * g / bandwidth:.0f}% of copy" if bandwidth else "")
    return ""


def work(flop, byte):
    if flop > 0:
        return f"{flop * 1e-6:.1f} MFLOP"
    if byte > 0:
        return f"{byte * 1e-6:.1f} MB"
    return "-"


def print_profile(profile, peak, bandwidth):
    threads = profile["threads"]
    print(f"one training step of {profile['model']}, layer by layer, {threads} thread{'s' if threads > 1 else ''} "
          f"({profile['batch']}, {profile['data']}; medians of {profile['iterations']} steps, {profile['clock']}; "
          f"bench/profile.cpp)")
    total = sum(layer["fwd"] + layer["bwd"] for layer in profile["layers"])
    rows = []
    for layer in profile["layers"]:
        share = (layer["fwd"] + layer["bwd"]) / total if total > 0 else 0
        rows.append((layer["name"], f"{layer['fwd'] * 1e3:.2f}", f"{layer['bwd'] * 1e3:.2f}", f"{100 * share:.0f}%",
                     work(layer["fwd_flop"], layer["fwd_byte"]), work(layer["bwd_flop"], layer["bwd_byte"]),
                     efficiency(layer["fwd"], layer["fwd_flop"], layer["fwd_byte"], peak, bandwidth),
                     efficiency(layer["bwd"], layer["bwd_flop"], layer["bwd_byte"], peak, bandwidth)))
    flop = profile["flop_per_example"] * int(profile["batch"].split()[-1])
    rows.append(("sum of the rows", f"{sum(x['fwd'] for x in profile['layers']) * 1e3:.2f}",
                 f"{sum(x['bwd'] for x in profile['layers']) * 1e3:.2f}", "100%", f"{flop * 1e-6:.0f} MFLOP", "",
                 efficiency(total, flop, 0, peak, bandwidth), ""))
    rows.append(("the example's step, whole (one tape)", f"{profile['step'] * 1e3:.2f}", "", "", "", "",
                 efficiency(profile["step"], flop, 0, peak, bandwidth), ""))
    print_table(["layer -> output", "fwd ms", "bwd ms", "share", "fwd work", "bwd work", "forward", "backward"], rows)
    fresh = profile["fresh"]
    print(f"fresh memory per step beyond the caching allocator's reuse: {fresh / 1024:.0f} KiB "
          f"(median; largest after the first two steps {profile['fresh_max'] / 1024:.0f} KiB)")


def lenet_targets(row, profiles, lenet, p1, p1_cpu):
    """Issue 17's targets: the LeNet epoch against its FLOP limit, and 2 threads against 1."""
    profile = next((p for p in profiles if p["model"] == "lenet"), None)
    if profile and p1:
        epoch_flop = profile["flop_per_example"] * 60000
        limit = epoch_flop / (p1 * 1e9)
        row("LeNet epoch: FLOPs (2 convolutions, 3 dense layers, their biases; forward and backward)",
            f"{epoch_flop * 1e-9:.0f} GFLOP = {limit:.2f} s at the 1-thread peak"
            + (f" ({epoch_flop / (p1_cpu * 1e9):.2f} CPU s)" if p1_cpu != p1 else ""))
        one = next((p for p in profiles if p["model"] == "lenet" and p["threads"] == 1), None)
        if one:
            share = profile["flop_per_example"] * int(one["batch"].split()[-1]) / one["step"] / (p1_cpu * 1e9)
            row("LeNet step (profile), 1 thread, CPU time: share of the FLOP limit", f"{100 * share:.0f}%",
                f">= 40%: {verdict(share >= 0.40)}")
        if 1 in lenet:
            b = lenet[1]
            wall = seconds(b)
            cpu = b["cpu_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            row("lenet_epoch, 1 thread: share of the FLOP limit (wall time)", f"{100 * limit / wall:.0f}%",
                f">= 40%: {verdict(limit / wall >= 0.40)}")
            limit_cpu = epoch_flop / (p1_cpu * 1e9)
            row("lenet_epoch, 1 thread: share of the FLOP limit (CPU time, against the peak per CPU second)",
                f"{100 * limit_cpu / cpu:.0f}%", f">= 40%: {verdict(limit_cpu / cpu >= 0.40)}")
    if 1 in lenet and 2 in lenet:
        speedup = seconds(lenet[1]) / seconds(lenet[2])
        row("lenet_epoch, 2 threads / 1 (wall time)", f"{speedup:.2f}x", f">= 1.8x: {verdict(speedup >= 1.8)}")
    # Issue 15: a batch-normalized LeNet step (so epoch: the same batches) at most 1.5x a LeNet step;
    # issue 17: the other models' share of their own FLOP limit within 1.5x of LeNet's.
    for threads in (1, 2):
        steps = {p["model"]: p for p in profiles if p["threads"] == threads}
        base = steps.get("lenet")
        if not base:
            continue
        clock = "CPU time" if threads == 1 else "wall time"
        peak = p1_cpu if threads == 1 else None
        for model in ("batchnorm_lenet", "dropout_mlp"):
            other = steps.get(model)
            if not other:
                continue
            if model == "batchnorm_lenet":
                ratio = other["step"] / base["step"]
                row(f"batchnorm_lenet step / lenet step, {threads} thread{'s' if threads > 1 else ''}, {clock}",
                    f"{ratio:.2f}x", f"<= 1.5x: {verdict(ratio <= 1.5)}")
            if peak:
                def share(p):
                    return p["flop_per_example"] * int(p["batch"].split()[-1]) / p["step"] / (peak * 1e9)
                ratio = share(base) / share(other)
                than = f"{ratio:.1f}x less" if ratio >= 1 else f"{1 / ratio:.1f}x more"
                row(f"{model} step: share of its FLOP limit, 1 thread, CPU time",
                    f"{100 * share(other):.0f}% (lenet {100 * share(base):.0f}%, {than})",
                    f"within 1.5x of lenet's, or above: {verdict(ratio <= 1.5)}")


if __name__ == "__main__":
    main()
