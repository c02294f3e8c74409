"""The ``bench:train`` section of docs/benchmarks.md, from the cards of held-out trainings.

    python -m training.report var/bench-models [--note TEXT]

reads every ``holdout-<camera>.card.json`` there (written by ``ioc models train``)
and rewrites the section between ``<!-- bench:train -->`` and ``<!-- /bench:train -->``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

BEGIN, END = "<!-- bench:train -->", "<!-- /bench:train -->"
CAMERAS = {"2023": "Cách Mạng Tháng Tám – Trương Sơn (day, very dense)",
           "20232": "Quốc lộ 13 – Bến xe Miền Đông (day)",
           "20234": "Nam Kỳ Khởi Nghĩa – Điện Biên Phủ (night)"}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cell(f: dict | None) -> str:
    if not f:
        return "–"
    r = "–" if f["recall"] is None else f"{f['recall']:.2f}"
    p = "–" if f["precision"] is None else f"{f['precision']:.2f}"
    return f"{r} / {p}"


def section(folder: Path, note: str = "") -> str:
    cards = sorted(folder.glob("holdout-*.card.json"))
    if not cards:
        raise SystemExit(f"{folder}: no holdout-*.card.json")
    rows = [json.loads(p.read_text()) for p in cards]
    classes = rows[0]["classes"]
    t0 = rows[0]["training"]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [BEGIN, "## Fine-tuning YOLOX-Nano on the HCMC cameras (`ioc models train`)", "",
           f"Measured {now} on {_cpu()}, {os.cpu_count()} cores, PyTorch CPU, with `ioc models train` "
           f"(input {t0['input_size'][0]}x{t0['input_size'][1]}, batch {t0['batch']}, AdamW lr {t0['lr']}). "
           "Each camera of `../shared/data/vn/hcmc_cctv` held out in turn: trained on the other two, measured on it "
           "(IoU >= 0.5 per class, score >= 0.3, class-agnostic NMS 0.45, strict: every unmatched detection "
           "counts against precision). *before*: the stock COCO model restricted to these classes at the same "
           "input size, i.e. the starting point; *after*: the exported last epoch. Files: "
           "`var/bench-models/holdout-<camera>.onnx` (not in git).", ""]
    if note:
        out += [note, ""]
    out += ["| held out | trained on (images) | epochs | training time (with evaluations) | s / epoch (training only) | s / step |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        t = r["training"]
        steps = max(1, t["train_images"] // t["batch"])
        out.append(f"| {t['holdout']} ({t['holdout_images']} images) | {', '.join(t['cameras'])} ({t['train_images']}) "
                   f"| {t['epochs']} | {t['seconds'] / 60:.1f} min | {t['seconds_per_epoch']:.0f} "
                   f"| {t['seconds_per_epoch'] / steps:.2f} |")
    out += ["", "Recall / precision on the held-out camera, before → after:", "",
            "| held out | " + " | ".join(classes) + " | all |", "|---" * (len(classes) + 2) + "|"]
    for r in rows:
        t = r["training"]
        b, a = t.get("figures_before") or {}, t["figures"]
        cells = [f"{_cell((b.get('classes') or {}).get(c))} → **{_cell(a['classes'][c])}** ({a['classes'][c]['gt']})"
                 for c in classes]
        cells.append(f"{_cell(b.get('all'))} → **{_cell(a['all'])}** ({a['all']['gt']})")
        out.append(f"| {t['holdout']}: {CAMERAS.get(t['holdout'], '')} | " + " | ".join(cells) + " |")
    out += ["", "(n) = labelled boxes of that class on the held-out camera.", END]
    return "\n".join(out)


def write(doc: Path, text: str) -> None:
    body = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if BEGIN in body and END in body:
        body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: text, body, flags=re.S)
    else:
        body = body.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(body, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    text = section(args.folder, args.note)
    write(args.doc, text)
    print(text)


if __name__ == "__main__":
    main()
