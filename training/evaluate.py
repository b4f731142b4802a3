"""Evaluation reports for ``.keras`` and ``.tflite`` models alike (style: scikit-learn's reports).

One code path computes the numbers; the JSON, the Markdown table and the PNG
plots (confusion matrix, one-vs-rest ROC curves, training curves) are views of it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from fer_edge.metadata import ModelMetadata, read_keras_metadata
from fer_edge.preprocessing import normalize

from .data import FaceData, load
from .metrics import accuracy


@dataclass
class Predictor:
    """Probabilities for uint8 faces ``(N, S, S)``, whatever the model format."""

    path: str
    kind: str  # keras | tflite
    metadata: ModelMetadata
    predict: Callable[[np.ndarray], np.ndarray]
    model: object = None


def load_keras(path):
    """A ``.keras`` model, loaded with ``safe_mode`` so a Lambda layer cannot run code."""
    import keras

    from . import architectures  # noqa: F401  (registers fer-edge custom layers)

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError, TypeError, OSError... name the file and the reason
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: cannot load Keras model ({msg})") from None
    return as_float32(model)


def as_float32(model):
    """``model`` computing in float32: a model trained with mixed precision (the GPU jobs' bfloat16) keeps that
    policy in its file, and TFLite cannot convert bfloat16 convolutions ("'tf.Conv2D' op is neither a custom op
    nor a flex op"); its variables are float32 already, so only the layers' compute dtype changes."""
    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and str(
                    node.get("config", {}).get("name", "")).startswith("mixed_"):
                node["config"]["name"] = "float32"
                return True
            return any([walk(v) for v in node.values()])
        if isinstance(node, list):
            return any([walk(v) for v in node])
        return False

    config = model.get_config()
    if not walk(config):
        return model
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def load_predictor(path, batch_size: int = 256, num_threads: int | None = None, calibrated: bool = True) -> Predictor:
    """A :class:`Predictor` for a ``.keras`` or ``.tflite`` file, preprocessing from its metadata. ``calibrated``:
    a ``.tflite``'s probabilities as users get them (its score calibration applied); False: the network's own
    (parity with the float parent, distillation targets, fitting the calibration)."""
    path = str(path)
    if path.endswith(".keras"):
        meta = read_keras_metadata(path)
        model = load_keras(path)
        spec = meta.preprocessing

        def predict(x):
            out = [np.asarray(model(normalize(x[i:i + batch_size], spec), training=False))
                   for i in range(0, len(x), batch_size)]
            return np.concatenate(out) if out else np.zeros((0, len(meta.labels)), np.float32)
        return Predictor(path, "keras", meta, predict, model)
    from fer_edge.classifier import EmotionClassifier

    clf = EmotionClassifier(path, num_threads=num_threads, calibrated=calibrated)

    def predict_tflite(x):
        out = [clf.predict_input(normalize(x[i:i + batch_size], clf.preprocessing)) for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(clf.labels)), np.float32)
    return Predictor(path, "tflite", clf.metadata, predict_tflite, clf)


def metrics(y_true: np.ndarray, probs: np.ndarray, labels) -> dict:
    """Accuracy, macro/weighted precision-recall-F1, per-class report with ROC AUC, confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    labels = list(labels)
    k = len(labels)
    y_pred = probs.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(k), zero_division=0)
    per_class = {}
    for i, name in enumerate(labels):
        yt = (y_true == i).astype(int)
        auc = float(roc_auc_score(yt, probs[:, i])) if 0 < yt.sum() < len(yt) else None
        per_class[name] = {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                           "support": int(s[i]), "roc_auc": auc}
    w = s / max(s.sum(), 1)
    return {"n": int(len(y_true)), "accuracy": accuracy(y_true, y_pred),
            "macro_precision": float(p.mean()), "macro_recall": float(r.mean()), "macro_f1": float(f.mean()),
            "weighted_f1": float((f * w).sum()), "labels": labels, "per_class": per_class,
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels=range(k)).tolist()}


def markdown(report: dict, title: str = "Evaluation") -> str:
    """The report as Markdown: a summary line, a classification report and the confusion matrix."""
    lines = [f"# {title}", "", f"- model: `{report.get('model', '')}`", f"- data: `{report.get('data', '')}` "
             f"split `{report.get('split', '')}`, n = {report['n']}",
             f"- accuracy **{report['accuracy']:.4f}**, macro F1 {report['macro_f1']:.4f}, "
             f"weighted F1 {report['weighted_f1']:.4f}", "",
             "| class | precision | recall | f1 | ROC AUC | support |", "|---|---|---|---|---|---|"]
    for name, c in report["per_class"].items():
        auc = f"{c['roc_auc']:.3f}" if c["roc_auc"] is not None else "n/a"
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {auc} | {c['support']} |")
    lines += ["", "Confusion matrix (rows: true, columns: predicted)", "",
              "| | " + " | ".join(report["labels"]) + " |", "|---" * (len(report["labels"]) + 1) + "|"]
    for name, row in zip(report["labels"], report["confusion_matrix"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def plot_confusion(report: dict, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(report["confusion_matrix"], float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = report["labels"]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']:.3f} (n={report['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_roc(y_true: np.ndarray, probs: np.ndarray, labels, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, roc_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, name in enumerate(labels):
        yt = (y_true == i).astype(int)
        if 0 < yt.sum() < len(yt):
            fpr, tpr, _ = roc_curve(yt, probs[:, i])
            ax.plot(fpr, tpr, label=f"{name} ({auc(fpr, tpr):.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.legend(fontsize=8)
    save_axes(fig, ax, path, "false positive rate", "true positive rate", "one-vs-rest ROC", dpi=120)


def save_axes(fig, ax, path, xlabel: str, ylabel: str, title: str, dpi: int = 110) -> None:
    """Label a one-axes figure, write it as PNG and free it: every plot of the reports ends so."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_history(history_csv, path) -> bool:
    """Loss and accuracy per epoch from a training run's ``history.csv``; False when there is none."""
    import csv

    history_csv = Path(history_csv)
    if not history_csv.exists():
        return False
    rows = list(csv.DictReader(history_csv.open()))
    if not rows:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for name in (key, f"val_{key}", f"val_ema_{key}"):
            if rows[0].get(name):
                ax.plot(ep, [float(r[name]) for r in rows], label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def evaluate(model_path, data_source, split: str = "test", out_dir=None, limit: int | None = None,
             data: FaceData | None = None, probs: np.ndarray | None = None) -> dict:
    """Evaluate a model on a split; with ``out_dir`` write ``report.json``, ``report.md`` and PNG plots.
    ``probs``: the model's predictions for ``data``, when the caller has them already (not timed then)."""
    from .data import stratified_indices

    pred = load_predictor(model_path)
    if data is None:
        data = load(data_source, split, pred.metadata.class_set, size=pred.metadata.preprocessing.size)
    if limit:
        data = data.subset(stratified_indices(data.y, limit))
    t0, timed = time.perf_counter(), probs is None
    if timed:
        probs = pred.predict(data.x)
    elif len(probs) != len(data):
        raise ValueError(f"probs has {len(probs)} rows for {len(data)} faces")
    elapsed = round(time.perf_counter() - t0, 2) if timed else None
    report = metrics(data.y, probs, pred.metadata.labels)
    report.update({"model": str(model_path), "format": pred.metadata.format, "data": str(data_source),
                   "split": split, "seconds": elapsed, "skipped": dict(data.skipped)})
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1))
        (out / "report.md").write_text(markdown(report, f"Evaluation of {Path(model_path).name} on {split}"))
        plot_confusion(report, out / "confusion_matrix.png")
        plot_roc(data.y, probs, pred.metadata.labels, out / "roc.png")
        plot_history(Path(model_path).parent / "history.csv", out / "training_curves.png")
    return report
