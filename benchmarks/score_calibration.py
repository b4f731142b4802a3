"""Calibrated scores, the balanced operating point and "not sure" thresholds of every shipped tier, on FER2013
`test/` through the runtime: what the cards, `fer-edge models` and docs/integrations.md quote.

    python benchmarks/score_calibration.py [--data ../shared/datasets/fer2013] [--record]

Writes benchmarks/results/score_calibration.{md,json,png}. With --record, also the measured figures into each shipped
model's metadata (`fer-edge models` shows them) and the "Score calibration" section of its card. Calibrate the
files first (`fer-edge calibrate-scores fer_edge/models/*.tflite --data ...`: fitted on val/ only).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "score_calibration"


def main(argv=None) -> list:
    from fer_edge.classifier import TIERS, bundled_models
    from fer_edge.release.score_report import (card_section, markdown, measure, metadata_figures,
                                                     plot_reliability)
    from fer_edge.training.data import load
    from fer_edge.training.tflite_metadata import record_metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--record", action="store_true", help="write the figures into the shipped models and cards")
    a = ap.parse_args(argv)
    test = load(a.data, "test")
    rows = []
    for tier, file in TIERS.items():
        path = bundled_models().get(file)
        if path is None:
            continue
        print(f"scores: {tier} ({file}) on {len(test)} test faces", flush=True)
        rows.append(measure(path, test, tier))
        if a.record:
            r = rows[-1]
            record_metrics(path, metadata_figures(r))
            card = path.with_suffix(".md")
            card.write_text(card_section(r, card.read_text()))
    md = markdown(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".md").write_text(
        "# Calibrated scores, balanced operating point, thresholds\n\n"
        f"`python benchmarks/score_calibration.py` on FER2013 `test/` ({len(test)} faces), the shipped INT8 files through "
        "the runtime. Calibration and balanced offsets were fitted on `val/` only (`fer-edge calibrate-scores`). ECE: 15 "
        "equal-width bins of the top probability. Thresholds: the share of faces answered at `--min-emotion-score` "
        "and how many of those answers are right.\n\n" + md + "\n![reliability](score_calibration.png)\n")
    OUT.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    plot_reliability(rows, OUT.with_suffix(".png"))
    print(md)
    return rows


if __name__ == "__main__":
    main()
