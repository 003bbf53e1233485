#!/usr/bin/python3
"""Checks a joulebench report and a browser screenshot of it (run by test_compare),
or the roofs of its roofline charts (run by test_harness).

usage: check_report.py REPORT.html SCREENSHOT.png MIN_IMAGES
       check_report.py --roofs REPORT.html RESULTS.json...

The page must embed at least MIN_IMAGES PNG images that decode to real charts
(not blank), and the screenshot must show a rendered page: many distinct
colours and a good share of non-white pixels. With --roofs (the page drawn
from the RESULTS files, in that order): under each file's roofline, its
caption names one roof per instruction family in the file's
context.peak_families, with the figure ("int8 dot 770.8 GOP/s"), and no
other family. Prints what it found; exit 0 when all holds, 1 otherwise.
"""
import base64
import html
import io
import json
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402


def picture_stats(data):
    a = mpimg.imread(io.BytesIO(data), format="png")
    rgb = (np.asarray(a)[..., :3] * 255).astype(np.uint8) if a.dtype != np.uint8 else a[..., :3]
    flat = rgb.reshape(-1, 3)
    colours = len(np.unique(flat[:: max(1, len(flat) // 200000)], axis=0))
    non_white = float(np.mean(np.any(flat < 245, axis=1)))
    return a.shape[1], a.shape[0], colours, non_white


# Each family's name on the page and its unit (int8 counts integer ops, not FLOPs).
FAMILIES = {"fp32_fma": ("fp32 FMA", "GFLOP/s"), "bf16_dot": ("bf16 dot", "GFLOP/s"),
            "int8_dot": ("int8 dot", "GOP/s"), "amx_bf16": ("AMX bf16", "GFLOP/s"), "amx_int8": ("AMX int8", "GOP/s")}


def check_roofs(html_path, results):
    """Each results file's roofline caption names exactly the families of its context."""
    page = open(html_path).read()
    captions = [html.unescape(c) for c in re.findall(r"<p class='note roofs'>([^<]*)</p>", page)]
    ok = len(captions) == len(results)
    if not ok:
        print("%d roofline captions for %d results files" % (len(captions), len(results)))
    for path, cap in zip(results, captions):
        fams = json.load(open(path))["context"].get("peak_families") or {}
        if not fams:
            print("%s: no peak_families in its context" % path)
            ok = False
        for f, (name, unit) in FAMILIES.items():
            want = "%s %.1f %s" % (name, fams[f]["ops_per_s"] / 1e9, unit) if f in fams else None
            if want and want not in cap:
                print("%s: the roofs '%s' do not name '%s'" % (path, cap, want))
                ok = False
            if not want and name in cap:
                print("%s: the roofs '%s' name %s, which the run did not measure" % (path, cap, name))
                ok = False
        print("%s: roofs: %s" % (path, cap))
    return 0 if ok else 1


def main():
    if sys.argv[1] == "--roofs":
        return check_roofs(sys.argv[2], sys.argv[3:])
    html_path, shot, min_images = sys.argv[1], sys.argv[2], int(sys.argv[3])
    page = open(html_path).read()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ok = True
    if len(images) < min_images:
        print("only %d embedded PNG images, want %d or more" % (len(images), min_images))
        ok = False
    for i, b in enumerate(images):
        data = base64.b64decode(b)
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            print("image %d is not a PNG" % i)
            ok = False
            continue
        w, h, colours, non_white = picture_stats(data)
        if w < 200 or h < 100 or colours < 8 or non_white < 0.01:
            print("image %d looks blank: %dx%d, %d colours, %.1f%% non-white" % (i, w, h, colours, 100 * non_white))
            ok = False
    w, h, colours, non_white = picture_stats(open(shot, "rb").read())
    print("page: %d images; screenshot %dx%d, %d colours, %.1f%% non-white" % (len(images), w, h, colours,
                                                                                100 * non_white))
    if colours < 50 or non_white < 0.05:
        print("the screenshot looks blank")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
