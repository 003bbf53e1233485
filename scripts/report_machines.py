"""The procurement view of a joulebench report: machines compared.

Imported by scripts/report.py, which calls section() with the page data's "machines"
object (bench/analysis/machines.h describes it; joulebench computes every figure,
rank and Pareto flag) and its own helpers (esc, fmt, table, png), and adds the HTML
it returns. Draws: the machines; per op, each variant's GFLOP/s and GFLOP/J on every
machine with their 95% intervals; a ranking per op; time against energy per run with
the Pareto front; the training run projected on each machine, with its cost when
prices are given. Estimated energy is marked everywhere ("energy: estimated", hollow
markers) and never ranked against measured energy.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

UNIT = {"matmul": "GFLOP", "attention": "GFLOP", "softmax": "G elements"}
MARKERS = "os^Dv<>pPhX*"


def _g(v):
    return None if v is None else v / 1e9


def _interval(fmt, v, lo, hi):
    """'12.3 [11.9, 12.6]' in G units, or just the value without an interval."""
    if v is None:
        return "-"
    if lo is None or hi is None:
        return fmt(_g(v))
    return "%s <span class='note'>[%s, %s]</span>" % (fmt(_g(v)), fmt(_g(lo)), fmt(_g(hi)))


def _est(label):
    return " <i>est.</i>" if label == "energy: estimated" else ""


def _machine_table(h, m):
    rows = []
    for i, x in enumerate(m["machines"]):
        price = "-" if x.get("price_per_hour") is None else "%s (%s)" % (h.fmt(x["price_per_hour"]),
                                                                          h.esc(x.get("price_row") or ""))
        rows.append(["M%d" % (i + 1), h.esc(x["label"]), h.esc(x.get("node") or "-"), h.esc(x.get("partition") or "-"),
                     h.esc(x["threads"] if x.get("threads") is not None else "-"), h.esc(x.get("cpu_freq") or "-"),
                     h.esc(x.get("energy") or "-"), h.esc(", ".join(f.rsplit("/", 1)[-1] for f in x["files"])), price])
    return h.table(["", "machine", "Slurm node", "partition", "threads", "cpu-freq asked", "energy", "file(s)",
                    "price per machine-hour"], rows, numeric=(4,))


def _side_by_side(h, m, op):
    classes = [c for c in m["classes"] if c["op"] == op]
    if not classes:
        return ""
    unit = UNIT.get(op, "GFLOP")
    n = len(m["machines"])
    head = ["variant", "shape"] + ["M%d %s/s" % (i + 1, unit) for i in range(n)] + \
           ["M%d %s/J" % (i + 1, unit) for i in range(n)]
    rows = []
    for c in classes:
        s_cells, j_cells = [], []
        for cell in c["cells"]:
            if not cell:
                s_cells.append("-")
                j_cells.append("-")
                continue
            s_cells.append(_interval(h.fmt, cell.get("flop_per_s"), cell.get("flop_per_s_ci95_low"),
                                     cell.get("flop_per_s_ci95_high")))
            j_cells.append(_interval(h.fmt, cell.get("flop_per_j"), cell.get("flop_per_j_ci95_low"),
                                     cell.get("flop_per_j_ci95_high")) + _est(cell.get("label")))
        rows.append([h.esc(c["variant"]), h.esc(c["shape"])] + s_cells + j_cells)
    return "<h4>%s</h4>" % h.esc(op) + h.table(head, rows, numeric=tuple(range(2, 2 + 2 * n)))


def _ranking(h, m, rk):
    unit = UNIT.get(rk["op"], "GFLOP")
    rows = []
    for r in rk["rows"]:
        re_ = "-" if r.get("rank_energy") is None else "%s%d" % ("&asymp;" if r.get("tie_energy") else "",
                                                                 r["rank_energy"])
        rs = "%s%d" % ("&asymp;" if r.get("tie_speed") else "", r["rank_speed"])
        rows.append([re_, "M%d %s" % (r["machine"] + 1, h.esc(m["machines"][r["machine"]]["label"])),
                     h.esc(r["variant"]),
                     _interval(h.fmt, r.get("flop_per_j"), r.get("flop_per_j_ci95_low"), r.get("flop_per_j_ci95_high")),
                     h.esc(r["label"]), rs,
                     _interval(h.fmt, r.get("flop_per_s"), r.get("flop_per_s_ci95_low"), r.get("flop_per_s_ci95_high"))])
    return ("<h4>%s at %s</h4>" % (h.esc(rk["op"]), h.esc(rk["shape"])) +
            h.table(["rank by %s/J" % unit, "machine", "its best variant", "%s/J [95%%]" % unit, "energy",
                     "rank by %s/s" % unit, "%s/s [95%%]" % unit], rows, numeric=(3, 6)))


def _front_line(ax, pts, kind, color):
    front = sorted((p for p in pts if p["pareto"] and p.get("energy_measured") == kind), key=lambda p: p["x"])
    if len(front) >= 1:
        ax.plot([p["x"] for p in front], [p["y"] for p in front], color=color, linewidth=1.2, linestyle="--",
                zorder=2)


def _scatter(h, m, sc, colors):
    pts = [dict(p, x=p["time_ns"] / 1e6, y=p["joules"]) for p in sc["points"]
           if p.get("time_ns") and p.get("joules")]
    if not pts:
        return "<p class='na'>%s: no rows with energy to put on a time-energy plane.</p>" % h.esc(sc["op"])
    variants = sorted({p["variant"] for p in pts})
    marker = {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(variants)}
    fig, ax = plt.subplots(figsize=(8, 5))
    for p in pts:
        col = colors[p["machine"] % len(colors)]
        est = p.get("energy_measured") == 0
        ax.scatter(p["x"], p["y"], marker=marker[p["variant"]], s=70 if p["pareto"] else 40,
                   facecolor="none" if est else col, edgecolor=col if est else "black",
                   linewidth=1.6 if est else (1.4 if p["pareto"] else 0.4), zorder=3)
    _front_line(ax, pts, 1, "black")
    _front_line(ax, pts, 0, "grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time per run (ms)")
    ax.set_ylabel("energy per run (J)")
    ax.set_title("%s at %s: time against energy (dashed: Pareto front)" % (sc["op"], sc["shape"]), fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[i % len(colors)], label="M%d" % (i + 1))
               for i in sorted({p["machine"] for p in pts})]
    handles += [Line2D([], [], marker=marker[v], linestyle="", color="grey", label=v) for v in variants]
    if any(p.get("energy_measured") == 0 for p in pts):
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
                              label="energy: estimated"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    return h.png(fig)


def _costs_note(h, p):
    said = []
    if p.get("price_kwh") is not None:
        said.append("energy at %s per kWh of facility energy" % h.fmt(p["price_kwh"]))
    if p.get("prices"):
        said.append("machines at their price per machine-hour (a machine no row of the price table matches has "
                    "no machine cost)")
    return " Costs: %s." % "; ".join(said) if said else ""


def _projection(h, m, colors):
    p = m.get("projection")
    if not p:
        return ("<p class='na'>Projected training: no model chosen (<code>joulebench report --compare-machines "
                "--model NAME [--devices N] [--price-kwh P --machine-prices CSV]</code>).</p>")
    priced = p.get("price_kwh") is not None or p.get("prices")
    out = ["<h3>Training %s on %s device%s of each machine</h3>" % (h.esc(p["model"]), h.fmt(p["devices"]),
                                                                 "s" if p["devices"] != 1 else "")]
    out.append("<p class='note'>The kernel method of <code>joulebench project</code> on each machine's results: the "
               "best verified matmul and attention variants at the shapes nearest the model's, PUE %s, grid %s. "
               "Days assume the work divides evenly over the devices; machine-hours do not depend on how many. "
               "Rows are ordered by energy within measured and estimated energy separately.%s</p>" % (
                   h.esc(p["pue"]), h.esc(p["grid"]), _costs_note(h, p)))
    rows_in = [r for r in p["rows"]]
    key = {1: 0, 0: 1, None: 2}
    rows_in.sort(key=lambda r: (key.get(r.get("energy_measured"), 2), r["facility_mwh"] if r.get("facility_mwh")
                                is not None else float("inf")))
    rows = []
    for r in rows_in:
        mach = "M%d %s" % (r["machine"] + 1, h.esc(m["machines"][r["machine"]]["label"]))
        if r.get("error"):
            rows.append([mach, "not available: " + h.esc(r["error"])] + ["-"] * (8 if priced else 5))
            continue
        line = [mach, h.fmt(r["facility_mwh"]) + _est(r["label"]), h.fmt(r["tco2e"]), h.fmt(r["days"]),
                h.fmt(r["machine_hours"]), h.esc(r["label"]) + (" (Pareto)" if r.get("pareto") else ""),
                h.esc("%s, %s" % (r.get("matmul", "?").split("/", 1)[-1], r.get("attention", "?").split("/", 1)[-1]))]
        if priced:
            line += [h.fmt(r.get("energy_cost")), h.fmt(r.get("machine_cost")), h.fmt(r.get("total_cost"))]
        rows.append(line)
    head = ["machine", "facility MWh", "tCO2e", "days", "machine-hours", "energy", "kernels (matmul, attention)"]
    if priced:
        head += ["energy cost", "machine cost", "total cost"]
    out.append(h.table(head, rows, numeric=(1, 2, 3, 4) + ((7, 8, 9) if priced else ())))
    pts = [r for r in p["rows"] if r.get("days") and r.get("facility_mwh")]
    if pts:
        fig, ax = plt.subplots(figsize=(8, 4.6))
        for r in pts:
            col = colors[r["machine"] % len(colors)]
            est = r.get("energy_measured") == 0
            ax.scatter(r["days"], r["facility_mwh"], s=80 if r.get("pareto") else 45,
                       facecolor="none" if est else col, edgecolor=col if est else "black", linewidth=1.6, zorder=3)
            ax.annotate("M%d" % (r["machine"] + 1), (r["days"], r["facility_mwh"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        for kind, color in ((1, "black"), (0, "grey")):
            front = sorted((r for r in pts if r.get("pareto") and r.get("energy_measured") == kind),
                           key=lambda r: r["days"])
            if front:
                ax.plot([r["days"] for r in front], [r["facility_mwh"] for r in front], color=color,
                        linestyle="--", linewidth=1.2, zorder=2)
        ax.set_xlabel("days on %s device%s" % (h.fmt(p["devices"]), "s" if p["devices"] != 1 else ""))
        ax.set_ylabel("facility MWh")
        ax.set_title("%s: training time against energy per machine (dashed: Pareto front; hollow: estimated)" %
                     p["model"], fontsize=9)
        ax.grid(True, alpha=0.3)
        out.append(h.png(fig))
    return "".join(out)


def section(m, esc, fmt, table, png):
    """The HTML of the machines section, from the page data's "machines" object."""
    class H:
        pass
    h = H()
    h.esc, h.fmt, h.table, h.png = esc, fmt, table, png
    cmap = plt.get_cmap("tab10")
    colors = [cmap(i) for i in range(10)]
    parts = ["<h2 id='machines'>Machines compared</h2>",
             "<p class='note'>Shown because %s. A machine is its host and CPU (and GPU), with the Slurm node, "
             "and the run's threads and requested CPU frequency where the files differ in them; M1, M2, ... below "
             "name them. Figures are medians with their 95%% intervals in brackets. Energy marked <i>est.</i> is "
             "<b>estimated</b> (the model meter), never measured; ranks and Pareto fronts are taken within measured "
             "and within estimated energy, never across them.</p>" % esc(m.get("why") or "asked")]
    parts.append(_machine_table(h, m))
    parts.append("<h3>Each variant on each machine</h3>")
    for op in ("matmul", "attention", "softmax"):
        parts.append(_side_by_side(h, m, op))
    if any(c["op"] == "softmax" for c in m["classes"]):
        parts.append("<p class='note'>softmax is memory-bound: its work is counted in elements, not FLOPs.</p>")
    parts.append("<h3>Ranking</h3><p class='note'>Per op, at the shape most machines measured: each machine with its "
                 "most efficient variant, ranked by energy efficiency (measured and estimated energy ranked "
                 "apart) and by speed. &asymp;: the 95% intervals of this machine and the one just above it "
                 "overlap, so the order between them is not established.</p>")
    for rk in m["ranking"]:
        parts.append(_ranking(h, m, rk))
    parts.append("<h3>Time against energy</h3><p class='note'>Every variant on every machine at the ranking's shape: "
                 "time and energy per run (energy = time x FLOP/s / FLOP/J). Nothing is better on both axes than a "
                 "point on the Pareto front (dashed; larger markers); estimated energy is hollow and has its own "
                 "front (grey).</p>")
    for sc in m["scatter"]:
        parts.append(_scatter(h, m, sc, colors))
    parts.append(_projection(h, m, colors))
    return "".join(parts)
