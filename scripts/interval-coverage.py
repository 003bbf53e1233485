#!/usr/bin/env python3
"""How well does one run's 95% interval hold up in another run?

usage: scripts/interval-coverage.py RUN1.json RUN2.json [RUN3.json ...]

For every ordered pair of results files (from `joulebench run`) and every row
in both, it asks whether the other run's median time falls inside this run's
time interval (the ci95_low and ci95_high aggregate rows), and whether the
other run's speed-up falls inside this run's speed-up interval
(speedup_ci95_low..high). It prints the counts and the median half-widths.

A 95% interval is about the run it comes from; on a machine whose state moves
between runs (other tenants), coverage of *another* run's value below 95% is
the expected, measured, honest answer: docs/measurement.md.
Standard library only; exit 2 on bad input.
"""
import json
import statistics
import sys


def medians(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"interval-coverage: {path}: {e}")
    rows, bounds = {}, {}
    for b in doc.get("benchmarks", []):
        agg = b.get("aggregate_name")
        if agg == "median" and not b.get("error_occurred"):
            rows[b["run_name"]] = b
        elif agg in ("ci95_low", "ci95_high"):
            bounds.setdefault(b["run_name"], {})[agg] = b["real_time"]
    for name, r in rows.items():
        r["ci95_low"] = bounds.get(name, {}).get("ci95_low")
        r["ci95_high"] = bounds.get(name, {}).get("ci95_high")
    return rows


def inside(lo, x, hi):
    return lo is not None and hi is not None and lo <= x <= hi


def main(paths):
    if len(paths) < 2 or any(p in ("-h", "--help") for p in paths):
        print(__doc__.strip())
        return 0 if paths and paths[0] in ("-h", "--help") else 2
    runs = [medians(p) for p in paths]
    t_in = t_n = s_in = s_n = s_none = 0
    t_w, s_w = [], []
    for i, a in enumerate(runs):
        for j, b in enumerate(runs):
            if i == j:
                continue
            for name, r in a.items():
                o = b.get(name)
                if not o:
                    continue
                lo, hi = r.get("ci95_low"), r.get("ci95_high")
                if lo is not None and hi is not None:
                    t_n += 1
                    t_in += inside(lo, o["real_time"], hi)
                    t_w.append(100 * (hi - lo) / 2 / r["real_time"])
                if "speedup" in r and "speedup" in o and r.get("reference") != r.get("kernel"):
                    slo, shi = r.get("speedup_ci95_low"), r.get("speedup_ci95_high")
                    if slo is None or shi is None:
                        s_none += 1
                        continue
                    s_n += 1
                    s_in += inside(slo, o["speedup"], shi)
                    s_w.append(100 * (shi - slo) / 2 / r["speedup"])
    if not t_n:
        sys.exit("interval-coverage: no row with an interval in two of the files")
    print(f"time:     {t_in}/{t_n} other-run medians inside this run's interval ({100 * t_in / t_n:.0f}%); "
          f"median half-width {statistics.median(t_w):.1f}%")
    if s_n:
        print(f"speed-up: {s_in}/{s_n} other-run speed-ups inside this run's interval ({100 * s_in / s_n:.0f}%); "
              f"median half-width {statistics.median(s_w):.1f}%; {s_none} without an interval")
    elif s_none:
        print(f"speed-up: no interval to test ({s_none} speed-ups without one: too few effective rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
