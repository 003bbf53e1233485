#!/usr/bin/python3
"""The summary gpu-check.sh prints from a results file of the gpu suite.

    /usr/bin/python3 scripts/gpu_summary.py RESULTS.json

Prints which NVML board metered the GPU rows, one line per row (timed with its
median time, GFLOP/s and GFLOP/J; skipped or failed with the reason), and the
issue-7 targets as ratios within this run: matmul/cuda/tiled/f32 against
matmul/cuda/cublas/f32 at m=n=k=4096 (target >= 0.5) and attention/cuda/flash/f32
against attention/cuda/naive/f32 at n=4096 (target >= 5). Exit status: 0 every
GPU row timed or skipped with a reason and metered by nvml; 1 a row failed, or
the GPU rows were not metered by nvml; 2 the file cannot be read.
"""
import json
import sys


def main(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        ctx, benches = doc["context"], doc["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("gpu-check: cannot read %s: %s" % (path, e))
        return 2
    status = 0
    meter = (ctx.get("meters") or {}).get("cuda") or {}
    g = ctx.get("gpu_settings")
    if isinstance(g, dict):
        print("GPU: %s, NVML index %s, PCI %s, %s, MIG %s, CUDA_VISIBLE_DEVICES=%s" % (
            g.get("name"), g.get("nvml_index"), g.get("pci_bus_id"), g.get("uuid"), g.get("mig_mode"),
            ctx.get("cuda_visible_devices")))
    else:
        print("GPU: NVML settings unreadable: %s" % g)
    print("meter of the GPU rows: %s (%s)" % (meter.get("meter", "none"), meter.get("provenance", "-")))
    if meter.get("meter") != "nvml":
        print("FAIL: the GPU rows were not metered by nvml")
        status = 1
    rows, order = {}, []
    for b in benches:
        name = b.get("run_name") or b.get("name")
        if "/cuda/" not in name:
            continue
        if name not in rows:
            rows[name] = {}
            order.append(name)
        r = rows[name]
        if b.get("error_occurred"):
            r["error"] = b.get("error_message", "error")
        elif b.get("aggregate_name") == "median" or (b.get("repetitions") == 1 and b.get("run_type") == "iteration"):
            r["median"] = b
    print("%-62s %-8s %12s %10s %10s  %s" % ("row", "status", "time", "GFLOP/s", "GFLOP/J", "note"))
    counts = {"timed": 0, "skipped": 0, "failed": 0}
    for name in order:
        r = rows[name]
        err = r.get("error")
        if err:
            kind = "skipped" if err.startswith("skipped") else "failed"
            counts[kind] += 1
            print("%-62s %-8s %12s %10s %10s  %s" % (name, kind, "-", "-", "-", err))
            if kind == "failed":
                status = 1
            continue
        m = r.get("median")
        if not m:
            continue
        counts["timed"] += 1
        fpj = m.get("flop_per_j")
        note = "throttled %.0f%%" % m["throttle_pct"] if m.get("throttled") else ""
        if m.get("unheld_batches"):
            note += " %d batches not held" % m["unheld_batches"]
        print("%-62s %-8s %9.1f us %10.1f %10s  %s" % (name, "timed", m["real_time"] / 1e3, m["flop_per_s"] / 1e9,
                                                       "%.2f" % (fpj / 1e9) if fpj else "-", note.strip()))
    print("%d timed, %d skipped, %d failed" % (counts["timed"], counts["skipped"], counts["failed"]))

    def median_time(name):
        m = rows.get(name, {}).get("median")
        return m["real_time"] if m and not rows[name].get("error") else None

    targets = [("tiled vs cuBLAS f32, m=n=k=4096", "matmul/cuda/cublas/f32/m:4096/n:4096/k:4096",
                "matmul/cuda/tiled/f32/m:4096/n:4096/k:4096", 0.5)]
    for causal in (0, 1):
        shape = "b:1/h:8/n:4096/d:64/causal:%d" % causal
        targets.append(("flash vs naive attention, n=4096, causal=%d" % causal, "attention/cuda/naive/f32/" + shape,
                        "attention/cuda/flash/f32/" + shape, 5.0))
    print("targets (speed-up = reference time / kernel time, this run):")
    for label, ref, ker, want in targets:
        a, b = median_time(ref), median_time(ker)
        if a is None or b is None:
            print("  %-46s not measured" % label)
            continue
        ratio = a / b
        print("  %-46s %6.2fx  (target >= %g: %s)" % (label, ratio, want, "met" if ratio >= want else "not met"))
    return status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
