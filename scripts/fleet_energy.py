#!/usr/bin/python3
"""Puts Slurm's energy figure beside joulebench's for each task of a fleet run.

Run by scripts/fleet.sh's gathering step:

    /usr/bin/python3 scripts/fleet_energy.py [--tsv OUT.tsv] RESULTS.json...

For each results file with a `slurm` context (scripts/fleet.sh's tasks), joulebench's
energy of the whole run (context.run_energy: every device's meter from the start of the
run to its last row) is compared with sacct's ConsumedEnergyRaw of the job step that ran
it (the task's step 0, `srun joulebench run`). Slurm's figure exists only where the
cluster has an acct_gather_energy plugin (rapl, ipmi, gpu, pm_counters) and job
accounting (slurmdbd); otherwise this says which is missing instead of printing 0.
Slurm's step covers a little more than joulebench's window (process start, the results
written) and, with the ipmi plugin, the whole node rather than its CPUs: read the
difference with that in mind. Standard library only; JB_SACCT and JB_SCONTROL name
other commands to run (tests).

Prints one line per task, prefixed "energy:", and exits 0 (1 only on bad input).
"""
import argparse
import json
import os
import subprocess
import sys

SACCT = os.environ.get("JB_SACCT", "sacct")
SCONTROL = os.environ.get("JB_SCONTROL", "scontrol")


def run(cmd):
    """(exit status, stdout, first line of stderr); 127 when the command is missing."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, "", str(e)
    err = (p.stderr.strip().splitlines() or [""])[0]
    return p.returncode, p.stdout, err


def slurm_config():
    """The energy plugin and the accounting storage, or why they are unknown."""
    rc, out, err = run([SCONTROL, "show", "config"])
    if rc != 0:
        return None, None, "scontrol show config failed: %s" % (err or "exit %d" % rc)
    conf = {}
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            conf[k.strip()] = v.strip()
    return conf.get("AcctGatherEnergyType", "acct_gather_energy/none"), \
        conf.get("AccountingStorageType", "accounting_storage/none"), None


def sacct_step(job):
    """Slurm's (joules, seconds) for the task's joulebench step, or (None, why)."""
    rc, out, err = run([SACCT, "-j", job, "-n", "-P", "--format=JobID,ConsumedEnergyRaw,ElapsedRaw"])
    if rc != 0:
        return None, "sacct -j %s failed: %s" % (job, err or "exit %d" % rc)
    lines = [ln.split("|") for ln in out.splitlines() if ln.count("|") >= 2]
    # The srun step (JOB.0) is joulebench's process; else the whole job.
    step = next((f for f in lines if f[0].endswith(".0")), None) or next((f for f in lines if "." not in f[0]), None)
    if not step:
        return None, "sacct has no record of job %s" % job
    try:
        joules = float(step[1]) if step[1] not in ("", "0") else None
        seconds = float(step[2]) if step[2] else None
    except ValueError:
        return None, "sacct gave '%s' for job %s" % ("|".join(step), job)
    if joules is None:
        return None, "Slurm recorded no energy for %s (ConsumedEnergyRaw empty or 0)" % step[0]
    return (joules, seconds, step[0]), None


def main():
    ap = argparse.ArgumentParser(description="Slurm's energy beside joulebench's, per fleet task")
    ap.add_argument("--tsv", help="also write the table here")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    energy_plugin, storage, why_conf = slurm_config()
    if why_conf:
        note = why_conf
    elif energy_plugin.endswith("/none"):
        note = "Slurm has no energy plugin (AcctGatherEnergyType=%s): it has no figure to compare" % energy_plugin
    elif storage.endswith("/none"):
        note = "Slurm keeps no job accounting (AccountingStorageType=%s): sacct has no energy to compare" % storage
    else:
        note = None
    if note:
        print("energy: %s" % note)
    head = ["file", "node", "target", "job", "joulebench_joules", "joulebench_seconds", "joulebench_energy",
            "slurm_joules", "slurm_seconds", "difference_pct", "note"]
    table = []
    for path in a.files:
        try:
            with open(path, encoding="utf-8") as f:
                ctx = json.load(f).get("context", {})
        except (OSError, ValueError) as e:
            print("energy: %s: cannot read: %s" % (path, e))
            continue
        s = ctx.get("slurm")
        if not isinstance(s, dict):
            print("energy: %s: not run under Slurm (no slurm context)" % os.path.basename(path))
            continue
        if "array_job_id" in s and "array_task_id" in s:
            job = "%d_%d" % (s["array_job_id"], s["array_task_id"])
        else:
            job = str(s.get("job_id"))
        re = ctx.get("run_energy") or {}
        jj = sum(d.get("joules", 0) for d in re.values()) if re else None
        js = max((d.get("seconds", 0) for d in re.values()), default=None) if re else None
        kinds = sorted({d.get("energy", "?") for d in re.values()})
        jkind = "+".join(kinds) if kinds else "none"
        row = [os.path.basename(path), str(s.get("node", "?")), str(s.get("target", "-")), job,
               "%.1f" % jj if jj is not None else "", "%.1f" % js if js is not None else "", jkind, "", "", "", ""]
        name = "%s (%s)" % (row[1], row[2])
        jtext = "joulebench %.1f J in %.1f s (%s)" % (jj, js, jkind) if jj is not None else \
            "joulebench: no run_energy in the context (a results file of an older joulebench)"
        if note:
            row[10] = note
            print("energy: task %s %s: %s; Slurm: no figure" % (job, name, jtext))
        else:
            got, why = sacct_step(job)
            if not got:
                row[10] = why
                print("energy: task %s %s: %s; Slurm: %s" % (job, name, jtext, why))
            else:
                sj, ss, step = got
                row[7], row[8] = "%.1f" % sj, "%.0f" % ss if ss is not None else ""
                if jj:
                    d = 100.0 * (sj - jj) / jj
                    row[9] = "%+.1f" % d
                    row[10] = "joulebench's energy is estimated (model meter)" if jkind != "measured" else ""
                    print("energy: task %s %s: %s; Slurm (%s, step %s) %.1f J in %s s: %+.1f%% from joulebench's%s"
                          % (job, name, jtext, energy_plugin, step, sj, row[8] or "?", d,
                             " (joulebench's is estimated)" if jkind != "measured" else ""))
                else:
                    print("energy: task %s %s: %s; Slurm (%s, step %s) %.1f J" % (job, name, jtext, energy_plugin,
                                                                                  step, sj))
        table.append(row)
    if a.tsv:
        with open(a.tsv, "w", encoding="utf-8") as f:
            f.write("\t".join(head) + "\n")
            for r in table:
                f.write("\t".join(c.replace("\t", " ") for c in r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
