#!/usr/bin/python3
"""Draws a joulebench report page: one self-contained HTML file.

Run by `joulebench report`, which reads and checks the results files, computes
the projections and hands this script the page data (bench/analysis/report_data.h
describes it):

    /usr/bin/python3 scripts/report.py --data PAGE.json --out report.html

Sections: the runs and their settings; per op, GFLOP/s and GFLOP/J of every
variant (estimated energy hatched); a roofline against each machine's measured
peaks; the projected training energy and CO2 of the model for each attention and
matmul variant; the projected serving energy per request, per 1,000 output
tokens and per year for each variant; with several machines, a side-by-side
table per op; rows not timed. Charts are matplotlib PNGs embedded as base64. Only numpy and matplotlib.
"""
import argparse
import base64
import datetime
import html
import io
import json
import math
import os
import sys
import tempfile

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402
    from matplotlib.patches import Patch  # noqa: E402
    import report_machines  # noqa: E402  (the machines compared: scripts/report_machines.py)
except ImportError as e:  # exit 3: joulebench report says nothing more
    print("joulebench: report: %s cannot import matplotlib (%s): scripts/setup.sh installs python3-matplotlib"
          % (sys.executable, e), file=sys.stderr)
    sys.exit(3)

OPS = ("matmul", "attention", "softmax")
# softmax's "FLOPs" are elements (joulebench counts it as memory-bound work).
UNIT = {"matmul": "GFLOP", "attention": "GFLOP", "softmax": "G elements"}


def esc(s):
    return html.escape(str(s), quote=True)


def fmt(v, digits=4):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if v == 0:
        return "0"
    if 1e4 <= abs(v) < 1e12:
        return "{:,.0f}".format(v)
    if abs(v) >= 1e12 or abs(v) < 1e-3:
        return "%.*e" % (digits - 1, v)
    return "%.*g" % (digits, v)


def png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return '<img src="data:image/png;base64,%s" alt="chart">' % base64.b64encode(buf.getvalue()).decode()


# ---- The page data -------------------------------------------------------------


def energy_kind(row):
    m = row.get("energy_measured")
    if m is None:
        return "none"
    return "measured" if m > 0.5 else "estimated"


# ---- Charts ------------------------------------------------------------------


def color_map(names):
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(sorted(names))}


def op_chart(op, rows, colors):
    """GFLOP/s and GFLOP/J of every variant, grouped by shape; estimated energy hatched."""
    shapes = []
    for r in rows:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])
    variants = sorted({r["variant"] for r in rows})
    by = {(r["shape"], r["variant"]): r for r in rows}
    width = 0.8 / max(1, len(variants))
    figw = max(8.0, min(22.0, 1.2 + 0.35 * len(shapes) * len(variants)))
    fig, axes = plt.subplots(1, 2, figsize=(figw, 4.2))
    unit = UNIT[op]
    for ax, key, title in ((axes[0], "flop_per_s", "%s/s" % unit), (axes[1], "flop_per_j", "%s/J" % unit)):
        for j, v in enumerate(variants):
            for i, s in enumerate(shapes):
                r = by.get((s, v))
                if not r or r.get(key) is None:
                    continue
                est = key == "flop_per_j" and energy_kind(r) == "estimated"
                # The 95% interval of the figure (the median's, inverted from time), when the run had one.
                lo, hi = r.get(key + "_ci95_low"), r.get(key + "_ci95_high")
                err = [[max(0.0, (r[key] - lo) / 1e9)], [max(0.0, (hi - r[key]) / 1e9)]] \
                    if lo is not None and hi is not None else None
                ax.bar(i + (j - (len(variants) - 1) / 2) * width, r[key] / 1e9, width * 0.95,
                       color=colors[v], hatch="///" if est else None, edgecolor="black" if est else colors[v],
                       linewidth=0.4, yerr=err, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "black"})
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels([s.replace("/", "\n") for s in shapes], fontsize=7)
        ax.set_ylabel(title)
        ax.set_title("%s: %s" % (op, title))
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(facecolor=colors[v], label=v) for v in variants]
    handles += [Patch(facecolor="white", edgecolor="black", label="energy measured"),
                Patch(facecolor="white", edgecolor="black", hatch="///", label="energy estimated (model)")]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=8,
               bbox_to_anchor=(0.5, -0.02 - 0.05 * (len(handles) // 6)))
    fig.tight_layout(rect=(0, 0.08 + 0.05 * (len(handles) // 6), 1, 1))
    return png(fig)


# The instruction families whose ceilings a run measures (joulebench env), in the order drawn: the
# name on the chart, and whether it counts integer ops (GOP/s) rather than FLOPs.
FAMILIES = {"fp32_fma": ("fp32 FMA", False), "bf16_dot": ("bf16 dot", False), "int8_dot": ("int8 dot", True),
            "amx_bf16": ("AMX bf16", False), "amx_int8": ("AMX int8", True)}
FAMILY_COLORS = {"fp32_fma": "black", "bf16_dot": "#9467bd", "int8_dot": "#d62728", "amx_bf16": "#8c564b",
                 "amx_int8": "#e377c2"}


def roofs(ctx):
    """[(family, ops per second, instruction)] of the families measured for the run, in FAMILIES' order.
    A file from before the families has only peak_flop_per_s: that is fp32 FMA's."""
    fams = ctx.get("peak_families")
    if not isinstance(fams, dict):
        peak = ctx.get("peak_flop_per_s")
        return [("fp32_fma", peak, None)] if peak else []
    return [(f, fams[f]["ops_per_s"], fams[f].get("instruction")) for f in FAMILIES
            if isinstance(fams.get(f), dict) and fams[f].get("ops_per_s")]


def roof_label(family, ops):
    """ "fp32 FMA 210.3 GFLOP/s", "int8 dot 420.1 GOP/s": the words the chart and its caption use."""
    name, ints = FAMILIES.get(family, (family, False))
    return "%s %.1f %s" % (name, ops / 1e9, "GOP/s" if ints else "GFLOP/s")


def roofline_chart(machine, rows, ctx, colors):
    """Each matmul and attention row at its intensity, under one roof per instruction family measured
    (its ceiling, and the copy bandwidth's slope below it); a row's edge has its family's colour."""
    rf = roofs(ctx)
    bw = ctx.get("peak_bytes_per_s")
    pts = [r for r in rows if not r["error"] and r["op"] != "softmax" and r.get("intensity") and r.get("flop_per_s")]
    if not pts or not rf or not bw:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    ridges = [ops / bw for _, ops, _ in rf]
    xs = [r["intensity"] for r in pts]
    lo, hi = min(xs + ridges) / 4, max(xs + ridges) * 4
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    # The bandwidth's slope up to the highest roof, then each family's flat roof from its ridge point.
    top = max(ops for _, ops, _ in rf)
    ax.plot([x for x in grid if x * bw <= top] + [top / bw], [x * bw / 1e9 for x in grid if x * bw <= top] + [top / 1e9],
            color="grey", linewidth=1.5, label="roof: copy %.1f GB/s" % (bw / 1e9))
    for fam, ops, _ in rf:
        ax.plot([ops / bw, hi], [ops / 1e9, ops / 1e9], color=FAMILY_COLORS.get(fam, "grey"), linewidth=1.5,
                label="roof: " + roof_label(fam, ops))
        ax.axvline(ops / bw, color=FAMILY_COLORS.get(fam, "grey"), linestyle=":", linewidth=0.8)
    measured = {fam for fam, _, _ in rf}
    markers = {"matmul": "o", "attention": "^"}
    seen = set()
    for r in pts:
        label = r["variant"] if r["variant"] not in seen else None
        seen.add(r["variant"])
        fam = r.get("peak_family") or "fp32_fma"
        # A row on a family with no measured roof here (int8 under JB_ISA=portable): hollow, grey edge.
        roofless = fam not in measured
        ax.scatter(r["intensity"], r["flop_per_s"] / 1e9, marker=markers.get(r["op"], "s"),
                   facecolor="none" if roofless else colors[r["variant"]],
                   edgecolor="grey" if roofless else FAMILY_COLORS.get(fam, "grey"),
                   linewidth=0.4 if fam == "fp32_fma" else 1.8, s=45, label=label, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of minimum traffic)")
    ax.set_ylabel("GFLOP/s (int8: GOP/s)")
    ax.set_title("roofline: %s  (o matmul, ^ attention; edge: the row's family)" % machine, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower right")
    return png(fig)


def roof_caption(ctx):
    """The roofs in words, under the chart (and for whoever reads the page as text)."""
    parts = ["%s (%s)" % (roof_label(fam, ops), what) if what else roof_label(fam, ops) for fam, ops, what in roofs(ctx)]
    bw = ctx.get("peak_bytes_per_s")
    if bw:
        parts.append("copy %.1f GB/s" % (bw / 1e9))
    return "<p class='note roofs'>roofs: %s</p>" % esc("; ".join(parts))


def projection_chart(title, entries, xlabel="projected tCO2e"):
    """Bars of tCO2e (or xlabel's figure) per variant; entries are (label, value, energy kind)."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(entries) + 1.2))
    labels = [e[0] for e in entries]
    vals = [e[1] for e in entries]
    est = [e[2] != "measured" for e in entries]
    ax.barh(range(len(entries)), vals, color=["#d62728" if v == max(vals) else "#1f77b4" for v in vals],
            hatch=None, edgecolor="black", linewidth=0.4)
    for i, e in enumerate(est):
        if e:
            ax.barh(i, vals[i], color="none", hatch="///", edgecolor="black", linewidth=0)
    ax.set_yticks(range(len(entries)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if any(est):
        ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch="///", label="from estimated energy")],
                  fontsize=8, loc="lower right")
    return png(fig)


# ---- The page ----------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 12px}
h1{font-size:1.6em}h4{margin:.8em 0 .2em}details.warn summary{cursor:pointer}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;display:block;margin:6px 0}.note{color:#555;font-size:13px}
.na{background:#fff4e5;border-left:4px solid #f0a020;padding:8px 12px}
.warn{background:#fdecea;border-left:4px solid #d33;padding:6px 12px;font-size:13px}
code{background:#f5f5f5;padding:0 3px}
"""


def table(head, rows, numeric=(), raw_head=False):
    """rows hold HTML already escaped; head is text, or HTML with raw_head."""
    h = "<table><tr>%s</tr>" % "".join("<th>%s</th>" % (c if raw_head else esc(c)) for c in head)
    for r in rows:
        h += "<tr>%s</tr>" % "".join('<td%s>%s</td>' % (' class="n"' if i in numeric else "", c)
                                     for i, c in enumerate(r))
    return h + "</table>"


def speedup_table(op, rows):
    """Per shape: each variant's median time with its interval and its speed-up over the reference."""
    shapes = []
    for r in rows:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])
    out = []
    for s in shapes:
        for r in sorted((r for r in rows if r["shape"] == s), key=lambda r: r["variant"]):
            hw = r.get("ci_halfwidth_pct")
            t = r.get("time_ns")
            time = "-" if t is None else "%s ms &plusmn; %s%%%s" % (
                fmt(t / 1e6), fmt(hw, 2) if hw is not None else "?", "" if r.get("converged") != 0 else " ~")
            ref = r.get("reference")
            if not ref:
                sp = "-"
            elif ref == r["kernel"]:
                sp = "reference"
            elif r.get("speedup") is None:
                sp = "-"
            elif r.get("speedup_ci95_low") is None:
                sp = "%sx (no interval: too few rounds)" % fmt(r["speedup"], 3)
            else:
                sp = "%sx [%s, %s]" % (fmt(r["speedup"], 3), fmt(r["speedup_ci95_low"], 3),
                                       fmt(r["speedup_ci95_high"], 3))
            out.append([esc(s), esc(r["variant"]), time, sp, esc(ref.split("/", 2)[-1] if ref else "-")])
    if not out:
        return ""
    return ("<p class='note'>%s: median time with the half-width of its 95%% interval (~: the row's time budget "
            "ran out first), and the speed-up over the group's reference with its 95%% interval, from the ratios "
            "within rounds.</p>" % esc(op)) + table(["shape", "variant", "time", "speed-up [95% interval]", "vs"],
                                                     out, raw_head=False)


def build(files, model, compared=None):
    machines = []
    for f in files:
        if f["machine"] not in machines:
            machines.append(f["machine"])
    # Each file is shown on its own (two runs of one machine are not merged); its label is the
    # machine, and the file name too when a machine has several files.
    for f in files:
        same = [g for g in files if g["machine"] == f["machine"]]
        f["label"] = f["machine"] if len(same) == 1 else "%s: %s" % (f["machine"], os.path.basename(f["path"]))
    colors = color_map({r["variant"] for f in files for r in f["rows"]})
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>joulebench report</title>",
             "<style>%s</style></head><body>" % CSS,
             "<h1>joulebench report</h1>",
             "<p class='note'>Generated %s from %d results file%s on %d machine%s.</p>" % (
                 datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), len(files),
                 "s" if len(files) > 1 else "", len(machines), "s" if len(machines) > 1 else "")]

    # Runs and their settings.
    parts.append("<h2>Runs</h2>")
    rows = []
    for f in files:
        c = f["ctx"]
        rows.append([esc(os.path.basename(f["path"])), esc(f["machine"]), esc(c.get("date", "-")),
                     esc(c.get("git_commit", "-")), esc(c.get("threads", "-")),
                     esc("%s (%s)" % (c.get("meter", "-"), c.get("energy", "-"))),
                     fmt((c.get("peak_flop_per_s") or 0) / 1e9), fmt((c.get("peak_bytes_per_s") or 0) / 1e9),
                     esc(c.get("suite", "-"))])
    parts.append(table(["file", "machine", "date", "commit", "threads", "meter (energy)", "fp32 FMA GFLOP/s",
                        "copy GB/s", "suite"], rows, numeric=(6, 7)))
    for f in files:
        ws = f["ctx"].get("warnings", [])
        if ws:
            parts.append("<details class='warn'><summary>%s: %d warning%s from the run</summary>%s</details>" % (
                esc(os.path.basename(f["path"])), len(ws), "s" if len(ws) > 1 else "",
                "".join("<div>%s</div>" % esc(w) for w in ws)))
    parts.append("<p class='note'>Energy is <b>measured</b> (RAPL, NVML) or <b>estimated</b> (the model meter: "
                 "TDP profile x utilization); estimated GFLOP/J bars are hatched and never mixed up with "
                 "measured ones.</p>")

    # Per op.
    parts.append("<h2>Throughput and energy efficiency per op</h2>")
    for f in files:
        timed = [r for r in f["rows"] if not r["error"]]
        if len(files) > 1:
            parts.append("<h3>%s</h3>" % esc(f["label"]))
        for op in OPS:
            rs = [r for r in timed if r["op"] == op and r.get("flop_per_s")]
            if not rs:
                continue
            parts.append("<h4>%s</h4>" % esc(op))
            parts.append(op_chart(op, rs, colors))
            if op == "softmax":
                parts.append("<p class='note'>softmax is memory-bound: its work is counted in elements, "
                             "not FLOPs.</p>")
            parts.append(speedup_table(op, rs))

    # Roofline.
    parts.append("<h2>Roofline</h2>")
    parts.append("<p class='note'>Each matmul and attention row at its arithmetic intensity (counter "
                 "<code>intensity</code>: FLOPs per byte of minimum traffic) under the ceilings measured at the "
                 "start of the run: one roof per instruction family the CPU has (a loop of fp32 FMAs, of bf16 or "
                 "int8 dot products, of AMX tile products), and the copy bandwidth's slope. Each row's % of peak "
                 "is of its own family's roof (the row's edge colour; hollow: that family has no roof on this "
                 "machine). softmax is left out: its work is elements, not FLOPs.</p>")
    for f in files:
        img = roofline_chart(f["label"], f["rows"], f["ctx"], colors)
        parts.append(img + roof_caption(f["ctx"]) if img else
                     "<p class='na'>%s: no peaks in the context or no timed matmul or attention rows.</p>"
                     % esc(f["label"]))

    # Projection.
    parts.append("<h2>Projected training energy and CO2</h2>")
    proj = {}
    if not model:
        parts.append("<p class='na'>not available: no model chosen (<code>joulebench report --model NAME</code>, "
                     "e.g. gpt3-175b or llama-7b).</p>")
    else:
        proj = {f["path"]: f["projection"] for f in files}
        for f in files:
            e = proj[f["path"]]
            label = f["label"]
            if not e["default"]:
                parts.append("<p class='na'>%s: not available: %s</p>" % (esc(label), esc(e["error"])))
                continue
            d = e["default"]
            p = d.get("projection", {})
            mname = d.get("model", {}).get("name", model)
            parts.append("<h3>%s: %s</h3>" % (esc(mname), esc(label)))
            parts.append("<p class='note'>From <code>joulebench project --model %s --results %s --json</code>: "
                         "training FLOPs of each kernel class over the FLOP/J of the chosen row, x host overhead "
                         "%s x PUE %s, at %s. With the best variants: <b>%s MWh, %s tCO2e</b> (%s energy). "
                         "Each line below changes one class's kernel and keeps the other at its best.</p>" % (
                             esc(model), esc(os.path.basename(f["path"])), esc(p.get("host_overhead", "?")),
                             esc(p.get("pue", "?")), esc(p.get("grid", "?")), fmt(p.get("facility_mwh")),
                             fmt(p.get("tco2e")), esc(p.get("energy", "?"))))
            vs = e["variants"]
            rows = [[esc(v["class"]), esc(v["kernel"]), esc(v["row"] or "-"), fmt(v["facility_mwh"]), fmt(v["tco2e"]),
                     esc(v["energy"] if not v["error"] else "not available: " + v["error"])] for v in vs]
            parts.append(table(["class", "kernel", "row used (nearest shape)", "facility MWh", "tCO2e", "energy"],
                               rows, numeric=(3, 4)))
            ok = [(v["kernel"], v["tco2e"], v["energy"]) for v in vs if v["tco2e"] is not None]
            if ok:
                parts.append(projection_chart("%s: projected tCO2e by kernel variant (%s)" % (mname, f["label"]),
                                              ok))

    # Serving.
    if model:
        parts.append(inference_section(files, model))

    # Machines side by side.
    if len(machines) > 1:
        parts.append("<h2>Machines side by side</h2>")
        parts.append("<p class='note'>Median of the repetitions; GFLOP/J marked <i>est.</i> is from estimated "
                     "energy.</p>")
        for op in OPS:
            names = []
            for f in files:
                for r in f["rows"]:
                    if r["op"] == op and not r["error"] and r["name"] not in names:
                        names.append(r["name"])
            if not names:
                continue
            unit = UNIT[op]
            head = ["row"]
            for f in files:  # labels are escaped here; the <br> is ours
                head += ["%s/s<br>%s" % (unit, esc(f["label"])), "%s/J<br>%s" % (unit, esc(f["label"]))]
            rows = []
            for n in names:
                line = [esc(n)]
                for f in files:
                    r = next((x for x in f["rows"] if x["name"] == n and not x["error"]), None)
                    if not r:
                        line += ["-", "-"]
                        continue
                    j = fmt(r["flop_per_j"] / 1e9) if r.get("flop_per_j") else "-"
                    if r.get("flop_per_j") and energy_kind(r) == "estimated":
                        j += " <i>est.</i>"
                    line += [fmt(r["flop_per_s"] / 1e9) if r.get("flop_per_s") else "-", j]
                rows.append(line)
            parts.append("<h3>%s</h3>" % esc(op))
            parts.append(table(head, rows, numeric=tuple(range(1, len(head))), raw_head=True))
        if proj:
            parts.append("<h3>Projected training energy of %s per variant</h3>" % esc(model))
            kernels = []
            for f in files:
                for v in proj[f["path"]]["variants"]:
                    if v["kernel"] not in kernels:
                        kernels.append(v["kernel"])
            head = ["kernel"] + ["MWh<br>%s" % esc(f["label"]) for f in files] + \
                   ["tCO2e<br>%s" % esc(f["label"]) for f in files]
            rows = []
            for k in kernels:
                mwh, co2 = [], []
                for f in files:
                    v = next((x for x in proj[f["path"]]["variants"] if x["kernel"] == k), None)
                    mwh.append(fmt(v["facility_mwh"]) if v else "-")
                    co2.append(fmt(v["tco2e"]) if v else "-")
                rows.append([esc(k)] + mwh + co2)
            parts.append(table(head, rows, numeric=tuple(range(1, len(head))), raw_head=True))

    if compared:
        parts.append(report_machines.section(compared, esc, fmt, table, png))

    # Rows not timed.
    errs = [(f, r) for f in files for r in f["rows"] if r["error"]]
    if errs:
        parts.append("<h2>Rows not timed</h2>")
        parts.append(table(["file", "row", "why"], [[esc(os.path.basename(f["path"])), esc(r["name"]), esc(r["error"])]
                                                    for f, r in errs]))
    parts.append("</body></html>\n")
    return "".join(parts)


def inference_section(files, model):
    """Energy per request and per 1,000 output tokens per kernel variant, at the traffic the data names."""
    parts = ["<h2>Projected serving energy and CO2</h2>"]
    for f in files:
        e = f.get("inference")
        if not e:
            continue
        label = f["label"]
        sv = e["serving"]
        if not e["default"]:
            parts.append("<p class='na'>%s: not available: %s</p>" % (esc(label), esc(e["error"])))
            continue
        d = e["default"]
        parts.append("<h3>%s: %s</h3>" % (esc(model), esc(label)))
        parts.append(
            "<p class='note'>From <code>joulebench project --model %s --inference --prompt %s --output %s "
            "--batch %s --requests %s --results %s</code>: prefill (weight matmuls and causal attention over the "
            "prompt) and decode (weight matmuls at m = batch, attention with one query row over the KV cache at "
            "%s bytes per element), each phase divided by the FLOP/J of its row, or its bytes times the J/B of a "
            "memory-bound row; x host overhead %s x PUE %s, at %s. With the best variants: <b>%s J per request, %s "
            "J per output token, %s kWh and %s tCO2e a year</b> (%s energy). Each line below changes one class's "
            "kernel and keeps the other at its best.</p>" % (
                esc(model), fmt(sv["prompt"]), fmt(sv["output"]), fmt(sv["batch"]), fmt(sv["requests_per_day"]),
                esc(os.path.basename(f["path"])), fmt(sv["kv_bytes"]), esc(sv["host_overhead"]), esc(sv["pue"]),
                esc(sv["grid"]), fmt(d["joules_per_request"]), fmt(d["joules_per_output_token"]),
                fmt(d["kwh_per_year"]), fmt(d["tco2e_per_year"]), esc(d["energy"])))
        parts.append(table(["phase", "kernel", "row used (nearest shape)", "read in"],
                           [[esc(p["phase"]), esc(p["kernel"]), esc(p["row"]), esc(p["reading"])]
                            for p in d["phases"]]))
        for n in d["notes"]:
            parts.append("<p class='warn'>%s</p>" % esc(n))
        vs = e["variants"]
        rows = []
        for v in vs:
            kind = v["energy"] if not v["error"] else "not available: " + v["error"]
            if v.get("stands_in"):
                kind += " (%s: no row of this kernel there)" % v["stands_in"]
            rows.append([esc(v["class"]), esc(v["kernel"]), fmt(v["joules_per_request"]),
                         fmt(v["joules_per_1000_output_tokens"]), fmt(v["kwh_per_year"]), fmt(v["tco2e_per_year"]),
                         esc(kind)])
        parts.append(table(["class", "kernel", "J per request", "J per 1,000 output tokens", "kWh per year",
                            "tCO2e per year", "energy"], rows, numeric=(2, 3, 4, 5)))
        ok = [(v["kernel"], v["kwh_per_year"], v["energy"]) for v in vs if v["kwh_per_year"] is not None]
        if ok:
            parts.append(projection_chart("%s: serving energy per year at %s requests a day (%s)" % (
                model, fmt(sv["requests_per_day"]), label), ok, xlabel="kWh per year"))
    return "".join(parts)


def one_line(s):
    return " ".join(str(s).split())


def write_page(out, page):
    """Replaces out atomically (a temporary file beside it, then a rename)."""
    d = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=".report.", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description="draws a joulebench report page from the data joulebench report gives")
    ap.add_argument("--data", required=True, help="the page data (JSON) from joulebench report")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    try:
        with open(a.data, encoding="utf-8") as f:
            data = json.load(f)
        page = build(data["files"], data.get("model"), data.get("machines"))
    except Exception as e:  # the data comes from joulebench: a failure here is a bug, still one line
        print("joulebench: report: failed: %s: %s" % (type(e).__name__, one_line(e)), file=sys.stderr)
        return 1
    try:
        write_page(a.out, page)
    except OSError as e:
        print("joulebench: report: cannot write %s: %s" % (a.out, one_line(e.strerror or e)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
