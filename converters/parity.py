"""The parity suite: does each converted model still agree with its float parent?

For every converted file: top-1 agreement with the float model, accuracy of
both on the same held-out faces, max/mean absolute probability difference and
per-class accuracy deltas, checked against thresholds (non-zero exit when
violated). Reports: ``parity.json``, ``parity.md``, ``parity.png``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_edge.training import metrics as M


@dataclass(frozen=True)
class Thresholds:
    """Defaults from the project's parity policy; ``None`` disables a check."""

    int_max_drop_pp: float = 1.0      # int8 / pruned / qat / edgetpu / dynamic: accuracy drop
    int_min_agreement: float = 0.97
    float16_min_agreement: float = 0.999
    float32_min_agreement: float = 0.999
    # Float formats are judged on the faces the parent does not tie on: a top-2 margin under the format's rounding
    # (float16 moves probabilities by ~1e-3; measured 0.0022 at most on c6) flips top-1 with no conversion fault.
    float16_tie_margin: float = 0.005
    float32_tie_margin: float = 1e-4

    @staticmethod
    def _kind(fmt: str) -> str:
        """A format's ``parity`` class in the formats table (``integer`` for one it does not list)."""
        from .formats import BY_NAME

        return BY_NAME[fmt].parity if fmt in BY_NAME else "integer"

    def for_format(self, fmt: str) -> tuple[float | None, float | None]:
        """``(max accuracy drop in pp, min agreement)`` for a format, by its ``parity`` class in the formats table."""
        kind = self._kind(fmt)
        if kind == "float16":
            return None, self.float16_min_agreement
        if kind == "float32":
            return None, self.float32_min_agreement
        return self.int_max_drop_pp, self.int_min_agreement

    def tie_margin(self, fmt: str) -> float:
        """Parent top-2 margin under which a float format's top-1 may flip by rounding alone (0: integer formats,
        judged on every face: their rounding is coarse and the accuracy drop bounds it)."""
        return {"float16": self.float16_tie_margin, "float32": self.float32_tie_margin}.get(self._kind(fmt), 0.0)


def compare(y: np.ndarray, p_float: np.ndarray, p_conv: np.ndarray, labels, fmt: str,
            thresholds: Thresholds = Thresholds()) -> dict:
    """Parity numbers of one converted model against its float parent on the same faces."""
    acc_f, acc_c = M.accuracy(y, p_float), M.accuracy(y, p_conv)
    per_class = {name: round(100 * (M.class_recall(y, p_float, i) - M.class_recall(y, p_conv, i)), 2)
                 for i, name in enumerate(labels) if (y == i).any()}
    diff = np.abs(p_float - p_conv)
    max_drop, min_agree = thresholds.for_format(fmt)
    agreement = M.agreement(p_float, p_conv)
    top2 = np.sort(p_float, 1)[:, -2:] if p_float.shape[1] > 1 else np.zeros((len(p_float), 2))
    decisive = (top2[:, 1] - top2[:, 0]) >= thresholds.tie_margin(fmt)
    judged = M.agreement(p_float, p_conv, decisive) if decisive.any() else 1.0
    drop_pp = 100 * (acc_f - acc_c)
    failures = []
    if max_drop is not None and drop_pp > max_drop:
        failures.append(f"accuracy drop {drop_pp:.2f} pp > {max_drop} pp")
    if min_agree is not None and judged < min_agree:
        ties = f" on the {int(decisive.sum())} faces the parent does not tie" if not decisive.all() else ""
        failures.append(f"top-1 agreement{ties} {100 * judged:.2f}% < {100 * min_agree:.2f}%")
    return {"format": fmt, "n": int(len(y)), "float_accuracy": acc_f, "accuracy": acc_c,
            "accuracy_drop_pp": round(drop_pp, 3), "agreement": agreement,
            "parent_ties": int((~decisive).sum()), "agreement_without_ties": judged,
            "max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
            "per_class_drop_pp": per_class, "passed": not failures, "failures": failures}


def markdown(rows: list[dict], parent: str, data: str, thresholds: Thresholds) -> str:
    lines = ["# Parity report", "", f"- float parent: `{parent}`", f"- data: `{data}` (n = {rows[0]['n'] if rows else 0})",
             f"- thresholds: {json.dumps(asdict(thresholds))}", "",
             "| file | format | accuracy | float accuracy | drop (pp) | agreement | agreement without parent ties "
             "(ties) | max abs diff | mean abs diff | result |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ties = (f"{100 * r['agreement_without_ties']:.2f}% ({r['parent_ties']})" if r.get("parent_ties")
                else "same (0)")
        lines.append(f"| {r['file']} | {r['format']} | {r['accuracy']:.4f} | {r['float_accuracy']:.4f} | "
                     f"{r['accuracy_drop_pp']:+.2f} | {100 * r['agreement']:.2f}% | {ties} | {r['max_abs_diff']:.4f} | "
                     f"{r['mean_abs_diff']:.5f} | {'pass' if r['passed'] else 'FAIL: ' + '; '.join(r['failures'])} |")
    if rows:
        labels = list(rows[0]["per_class_drop_pp"])
        lines += ["", "Per-class accuracy drop against float (pp; positive: the converted model is worse, as in "
                  "the drop column above)", "",
                  "| file | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        for r in rows:
            lines.append(f"| {r['file']} | " + " | ".join(f"{r['per_class_drop_pp'].get(k, 0):+.2f}" for k in labels) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["format"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [100 * r["float_accuracy"] for r in rows], 0.4, label="float parent")
    ax.bar(x + 0.2, [100 * r["accuracy"] for r in rows], 0.4, label="converted")
    for i, r in enumerate(rows):
        ax.text(i, 100 * max(r["accuracy"], r["float_accuracy"]) + 0.5, f"agree {100 * r['agreement']:.1f}%",
                ha="center", fontsize=8)
    ax.set_xticks(x, names)
    lo = min(100 * min(r["accuracy"], r["float_accuracy"]) for r in rows) if rows else 0
    ax.set_ylim(max(0, lo - 10), min(100, lo + 20))
    ax.set_ylabel("accuracy (%)")
    ax.set_title("parity with the float model")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_parity(float_model, converted, data_source, split: str = "val", out_dir=None, limit: int | None = None,
               thresholds: Thresholds = Thresholds(), data=None) -> dict:
    """Parity of each converted ``.tflite`` against the float ``.keras`` parent; writes reports to ``out_dir``."""
    from fer_edge.training.data import load, stratified_indices
    from fer_edge.training.evaluate import load_predictor

    parent = load_predictor(float_model)
    if data is None:
        data = load(data_source, split, parent.metadata.class_set, size=parent.metadata.preprocessing.size)
    if limit:
        data = data.subset(stratified_indices(data.y, limit))
    p_float = parent.predict(data.x)
    rows = []
    for path in converted:
        conv = load_predictor(path, calibrated=False)  # the network against its parent, not the score calibration
        if conv.metadata.labels != parent.metadata.labels:
            raise ValueError(f"{path}: labels {conv.metadata.labels} differ from the parent's {parent.metadata.labels}")
        row = compare(data.y, p_float, conv.predict(data.x), parent.metadata.labels, conv.metadata.format, thresholds)
        row["file"] = Path(path).name
        rows.append(row)
    result = {"parent": str(float_model), "data": f"{data_source} ({split})", "rows": rows,
              "passed": all(r["passed"] for r in rows), "thresholds": asdict(thresholds)}
    if out_dir and rows:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "parity.json").write_text(json.dumps(result, indent=1))
        (out / "parity.md").write_text(markdown(rows, str(float_model), result["data"], thresholds))
        plot(rows, out / "parity.png")
    return result
