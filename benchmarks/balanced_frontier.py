"""How far per-class offsets can lift the weakest emotion without costing macro recall: the balanced operating
point's frontier on `val/`, in-sample and held out, for each shipped tier.

    python benchmarks/balanced_frontier.py [--data ../shared/datasets/fer2013] [--halvings 5]

Reads `val/` only (never `test/`). For each worst-class recall the offsets may aim at, the offsets of the highest
macro recall that reach it, searched on all of `val/` (in-sample: the best any offsets can do) and, to see what
carries to faces the offsets never saw, fitted on one stratified half of `val/` and read on the other (both ways,
``--halvings`` random halvings). The shipped rule (`fit_balanced_offsets`) is read the same way. Writes
benchmarks/results/balanced_frontier.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "balanced_frontier"
AIMS = (0.40, 0.45, 0.50, 0.55)
STEPS = np.round(np.arange(-1.5, 2.001, 0.05), 3)


def frontier_offsets(y, raw, temperature: float, aim: float, max_accuracy_drop: float = 0.02) -> np.ndarray:
    """Offsets of the highest macro recall whose worst class reaches ``aim`` (pushing the worst class up until
    it does), accuracy within ``max_accuracy_drop`` of the calibrated model's; coordinate search."""
    from fer_edge.score_calibration import ScoreCalibration
    from fer_edge.training.metrics import accuracy, recall_per_class
    from fer_edge.training.score_calibration import coordinate_search

    n = raw.shape[1]
    floor = accuracy(y, ScoreCalibration(temperature).apply(raw)) - max_accuracy_drop

    def score(b):
        p = ScoreCalibration(temperature, tuple(b)).apply(raw, balanced=True)
        if accuracy(y, p) < floor:
            return -np.inf
        r = recall_per_class(y, p, n)
        return float(r.mean() + min(0.0, 10 * (r.min() - aim)))

    return coordinate_search(score, n, STEPS, rounds=4)


def read(y, raw, temperature: float, offsets) -> dict:
    """Accuracy, worst and macro recall with ``offsets`` (None: the calibrated model)."""
    from fer_edge.score_calibration import ScoreCalibration
    from fer_edge.training.metrics import accuracy, recall_per_class

    cal = ScoreCalibration(temperature, None if offsets is None else tuple(offsets))
    p = cal.apply(raw, balanced=offsets is not None)
    r = recall_per_class(y, p, raw.shape[1])
    return {"accuracy": accuracy(y, p), "worst": float(r.min()), "macro": float(r.mean())}


def halves(y, seed: int) -> np.ndarray:
    """A stratified random half of ``y``'s faces (a mask)."""
    from fer_edge.training.data import stratified_indices

    mask = np.zeros(len(y), bool)
    mask[stratified_indices(y, len(y) // 2, seed)] = True
    return mask


def held_out(y, raw, temperature: float, fit, halvings: int) -> dict:
    """``fit(y, raw) -> offsets`` fitted on one half and read on the other, against the calibrated model on that
    half: mean worst recall, mean and lowest macro-recall change, mean accuracy change."""
    rows = []
    for seed in range(halvings):
        a = halves(y, seed)
        for tr, te in ((a, ~a), (~a, a)):
            got, base = read(y[te], raw[te], temperature, fit(y[tr], raw[tr])), read(y[te], raw[te], temperature, None)
            rows.append((got["worst"], got["macro"] - base["macro"], got["accuracy"] - base["accuracy"]))
    r = np.array(rows)
    return {"readings": len(r), "worst": float(r[:, 0].mean()), "macro_change": float(r[:, 1].mean()),
            "macro_change_lowest": float(r[:, 1].min()), "accuracy_change": float(r[:, 2].mean())}


def main(argv=None) -> dict:
    from fer_edge.classifier import TIERS, bundled_models
    from fer_edge.metadata import read_tflite_metadata
    from fer_edge.sysinfo import machine
    from fer_edge.training.data import load
    from fer_edge.training.evaluate import load_predictor
    from fer_edge.training.score_calibration import fit_balanced_offsets

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--halvings", type=int, default=5)
    a = ap.parse_args(argv)
    res = {"machine": machine(), "halvings": a.halvings, "tiers": []}
    lines = []
    for tier, file in TIERS.items():
        path = bundled_models().get(file)
        if path is None:
            continue
        meta = read_tflite_metadata(path.read_bytes(), str(path))
        val = load(a.data, "val", ",".join(meta.labels))
        raw, y, t = load_predictor(path, calibrated=False).predict(val.x), val.y, meta.score_calibration["temperature"]
        base = read(y, raw, t, None)
        entry = {"tier": tier, "val_faces": len(y), "calibrated": base, "aims": []}
        lines += [f"\n## {tier} ({len(y)} val faces; calibrated: accuracy {base['accuracy']:.2%}, worst recall "
                  f"{base['worst']:.3f}, macro recall {base['macro']:.4f})\n",
                  "| offsets | in-sample worst | in-sample macro change | in-sample accuracy change | held-out worst | "
                  "held-out macro change (lowest) | held-out accuracy change |", "|---|---|---|---|---|---|---|"]
        rules = [(f"aim worst >= {aim:.2f}", lambda yy, rr, aim=aim: frontier_offsets(yy, rr, t, aim)) for aim in AIMS]
        rules.append(("shipped rule (fit_balanced_offsets)", lambda yy, rr: np.asarray(fit_balanced_offsets(yy, rr, t))))
        for name, fit in rules:
            print(f"balanced frontier: {tier}: {name}", flush=True)
            ins = read(y, raw, t, fit(y, raw))
            ho = held_out(y, raw, t, fit, a.halvings)
            entry["aims"].append({"rule": name, "in_sample": ins, "held_out": ho})
            lines.append(f"| {name} | {ins['worst']:.3f} | {ins['macro'] - base['macro']:+.4f} | "
                         f"{100 * (ins['accuracy'] - base['accuracy']):+.2f} pt | {ho['worst']:.3f} | "
                         f"{ho['macro_change']:+.4f} ({ho['macro_change_lowest']:+.4f}) | "
                         f"{100 * ho['accuracy_change']:+.2f} pt |")
        res["tiers"].append(entry)
    md = ("# The balanced operating point's frontier (val/ only)\n\n"
          f"`python benchmarks/balanced_frontier.py` on {res['machine']}. Per-class offsets after the temperature, "
          "searched for the highest macro recall at which the worst class reaches the aim (accuracy at most 2 points "
          "under the calibrated model's). In-sample: searched and read on all of `val/`. Held out: searched on one "
          f"stratified half of `val/` and read on the other, both ways, {a.halvings} random halvings; changes are "
          "against the calibrated model on the same half.\n" + "\n".join(lines) + "\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".md").write_text(md)
    OUT.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    print(md)
    return res


if __name__ == "__main__":
    main()
