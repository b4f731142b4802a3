"""How far a model's scores can be trusted: score calibration, the balanced operating point and "not sure" thresholds,
measured on ``test/`` through the runtime (the shipped file and its metadata, as a user gets them).

Used by ``benchmarks/score_calibration.py`` (every tier, the cards, the docs' threshold table) and
``fer-edge benchmark --scores``. Every number comes from :mod:`fer_edge.training.metrics`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.score_calibration import ScoreCalibration
from fer_edge.training.evaluate import load_predictor
from fer_edge.training.metrics import (accuracy, accuracy_at_coverage, coverage_accuracy,
                                       expected_calibration_error, recall_per_class, reliability)

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
COVERAGES = (0.5, 0.8, 1.0)


def measure(model, test, name: str, raw: np.ndarray | None = None) -> dict:
    """Raw, calibrated and balanced figures of one ``.tflite`` model on ``test`` (a FaceData); ``raw``: the model's
    uncalibrated probabilities for ``test.x`` when the caller has them already (a release predicts test/ once).
    Everything is in the model's label order; ``test``'s labels are mapped to it."""
    from fer_edge.metadata import read_tflite_metadata

    meta = read_tflite_metadata(Path(model).read_bytes(), str(model))
    classes = list(meta.labels)
    cal = ScoreCalibration.from_metadata(meta.score_calibration, len(classes))
    if raw is None:
        raw = load_predictor(model, calibrated=False).predict(test.x)
    y = np.array([classes.index(c) for c in test.classes])[test.y]
    calibrated = cal.apply(raw)
    out = {"name": name, "faces": len(y), "classes": classes,
           "temperature": cal.temperature, "has_balanced": cal.balanced_offsets is not None}
    for key, p in (("raw", raw), ("calibrated", calibrated)):
        r = recall_per_class(y, p, len(classes))
        out[key] = {"accuracy": accuracy(y, p), "ece": expected_calibration_error(y, p),
                    "mean_top": float(p.max(1).mean()), "recall": dict(zip(classes, r.round(4).tolist())),
                    "macro_recall": float(r.mean()), "worst_recall": float(r.min())}
    if cal.balanced_offsets is not None:
        b = cal.apply(raw, balanced=True)
        r = recall_per_class(y, b, len(classes))
        out["balanced"] = {"accuracy": accuracy(y, b), "ece": expected_calibration_error(y, b),
                           "recall": dict(zip(classes, r.round(4).tolist())),
                           "macro_recall": float(r.mean()), "worst_recall": float(r.min()),
                           "worst_class": classes[int(r.argmin())]}
    out["thresholds"] = [dict(zip(("threshold", "coverage", "precision"), (t, *coverage_accuracy(y, calibrated, t))))
                         for t in THRESHOLDS]
    out["coverages"] = [{"coverage": c, "accuracy": accuracy_at_coverage(y, calibrated, c)} for c in COVERAGES]
    out["reliability"] = {k: [a.tolist() for a in reliability(y, p)] for k, p in (("raw", raw),
                                                                                   ("calibrated", calibrated))}
    return out


def metadata_figures(r: dict) -> dict:
    """What a model's metadata keeps of :func:`measure` (``fer-edge models`` shows them)."""
    figures = {"test_ece": round(r["calibrated"]["ece"], 4), "test_ece_uncalibrated": round(r["raw"]["ece"], 4),
               "fear_recall": r["calibrated"]["recall"]["fear"]}
    if "balanced" in r:
        b = r["balanced"]
        figures.update(balanced_test_accuracy=round(b["accuracy"], 4),
                       balanced_worst_recall=round(b["worst_recall"], 4), balanced_macro_recall=round(b["macro_recall"], 4), balanced_fear_recall=b["recall"]["fear"])
    return figures


def card_section(r: dict, card: str = "", diagram: str = "benchmarks/results/score_calibration.png") -> str:
    """``card`` with its "Score calibration" section (re)written from :func:`measure`'s figures; ``diagram``: where the
    reliability diagram is."""
    b = r.get("balanced")
    th = {t["threshold"]: t for t in r["thresholds"]}
    lines = ["## Score calibration", "",
             f"Probabilities are temperature-scaled (T = {r['temperature']:.3f}, fitted on `val/`): on `test/` the "
             f"expected calibration error is {r['calibrated']['ece']:.3f} ({r['raw']['ece']:.3f} uncalibrated), "
             f"answers unchanged. A face reported at 0.8 or more is right {100 * th[0.8]['precision']:.1f}% of the "
             f"time ({100 * th[0.8]['coverage']:.0f}% of faces). Reliability diagram: {diagram}."]
    if b:
        lines += ["", f"Balanced operating point (`--balanced`): {100 * b['accuracy']:.2f}% accuracy, worst class "
                      f"recall {b['worst_recall']:.3f} ({b['worst_class']}), macro recall {b['macro_recall']:.3f} "
                      f"(default: {100 * r['calibrated']['accuracy']:.2f}%, {r['calibrated']['worst_recall']:.3f}, "
                      f"{r['calibrated']['macro_recall']:.3f})."]
    from .model_card import with_section

    return with_section(card, "Score calibration|Calibration", "\n".join(lines) + "\n")


def markdown(rows: list[dict]) -> str:
    """The tables: calibration per model, the balanced operating point, and precision per threshold."""
    lines = ["| model | temperature | accuracy | ECE raw | ECE calibrated | mean top probability raw / calibrated | "
             "accuracy of the most confident 50% / 80% |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cov = {c["coverage"]: c["accuracy"] for c in r["coverages"]}
        lines.append(f"| {r['name']} | {r['temperature']:.3f} | {100 * r['calibrated']['accuracy']:.2f}% | "
                     f"{r['raw']['ece']:.3f} | **{r['calibrated']['ece']:.3f}** | {r['raw']['mean_top']:.3f} / "
                     f"{r['calibrated']['mean_top']:.3f} | {100 * cov[0.5]:.1f}% / {100 * cov[0.8]:.1f}% |")
    lines += ["", "| model | operating point | accuracy | worst class recall | macro recall | "
              + " | ".join(f"{c} recall" for c in rows[0]["classes"]) + " |", "|---|---|---|---|---|"
              + "---|" * len(rows[0]["classes"])]
    for r in rows:
        for key in ("calibrated", "balanced"):
            if key not in r:
                continue
            m = r[key]
            lines.append(f"| {r['name']} | {'balanced' if key == 'balanced' else 'default'} | "
                         f"{100 * m['accuracy']:.2f}% | {min(m['recall'].values()):.3f} | {m['macro_recall']:.3f} | "
                         + " | ".join(f"{m['recall'][c]:.3f}" for c in r["classes"]) + " |")
    lines += ["", "| model | " + " | ".join(f"min score {t}: answered / right" for t in THRESHOLDS) + " |",
              "|---|" + "---|" * len(THRESHOLDS)]
    for r in rows:
        lines.append(f"| {r['name']} | " + " | ".join(f"{100 * t['coverage']:.0f}% / {100 * t['precision']:.1f}%"
                                                      for t in r["thresholds"]) + " |")
    return "\n".join(lines) + "\n"


def plot_reliability(rows: list[dict], path) -> Path:
    """Reliability diagrams, one panel per model: accuracy against mean top probability per bin, raw and
    calibrated, with the diagonal a calibrated model follows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 4.2), squeeze=False)
    for ax, r in zip(axes[0], rows):
        ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="calibrated: accuracy = score")
        for key, color in (("raw", "#d9534f"), ("calibrated", "#2b7bba")):
            acc, conf, count = (np.array(v) for v in r["reliability"][key])
            seen = count > 0
            ax.plot(conf[seen], acc[seen], "o-", color=color, ms=4,
                    label=f"{key} (ECE {r[key]['ece']:.3f})")
        ax.set(title=r["name"], xlabel="top probability (mean in bin)", ylabel="accuracy in bin", xlim=(0, 1),
               ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
