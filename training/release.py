"""Make a trained run the bundled default: INT8 with parity, test and leak-free scores, speed, model card.

Every number on the card comes from this one call on the files it writes (the
card cannot drift from the model it describes); ``install`` then copies the
INT8 model and its card into ``fer_edge/models``.

    python -m fer_edge.training.release results/campaign/c1-edge-s-e120 [--install]
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from .campaign import REPO, Scorer

MODELS = REPO / "fer_edge" / "models"
DEFAULT = "fer_edge_default"


def pick_weights(run: Path) -> Path:
    """The run's EMA weights when they scored higher on val than its plain weights (val only: test never picks)."""
    plain = json.loads((run / "best.json").read_text())["val_accuracy"]
    ema = run / "best_ema.json"
    if ema.exists() and (run / "model_ema.keras").exists() and json.loads(ema.read_text())["val_accuracy"] > plain:
        return run / "model_ema.keras"
    return run / "model.keras"


def release(run, data, *, hours: float | None = None, runs: int = 200, log=print) -> dict:
    """Convert the run's picked weights to INT8 under ``run/release`` and write ``release.json`` and the card."""
    from fer_edge.converters import benchmark as B
    from fer_edge.converters.export import convert

    from .evaluate import evaluate
    from .model_card import model_card

    run = Path(run)
    keras_file = pick_weights(run)
    out = run / "release"
    out.mkdir(exist_ok=True)
    log(f"release: {keras_file.name} -> INT8, parity on val/")
    conv = convert(keras_file, ["int8"], out, calibration=data, log=lambda *_: None)
    parity = next(r for r in conv["parity"]["rows"] if r["format"] == "int8")
    if not conv["parity"]["passed"]:
        raise RuntimeError(f"INT8 parity failed: {parity.get('failures')}")
    tflite = out / f"{keras_file.stem}_int8.tflite"
    log(f"release: test report of {tflite.name}")
    report = evaluate(tflite, data, "test", out_dir=out / "report_test_int8")
    scorer = Scorer(data, None)
    scores = scorer.score(tflite)
    bench = B.benchmark_models([tflite], data, "test", limit=700, runs=runs, fer_model=B.fer_package_model(),
                               log=lambda m: None)
    row = next(r for r in bench["rows"] if r["file"] == tflite.name)
    ref = next((r for r in bench["rows"] if r["format"] == "fer reference"), None)
    summary = json.loads((run / "train.json").read_text())
    if keras_file.name == "model_ema.keras":
        summary["best_epoch"] = json.loads((run / "best_ema.json").read_text())["epoch"]
        summary["best_val_accuracy"] = json.loads((run / "best_ema.json").read_text())["val_accuracy"]
        summary["weights"] = f"EMA, decay {summary.get('ema')}"
    if hours is not None:
        summary["hours"] = hours
    card = model_card(tflite, report, summary, parity, row, ref, leak_free=scores)
    (out / f"{DEFAULT}.md").write_text(card.replace(f"# Model card: {tflite.name}", f"# Model card: {DEFAULT}.tflite"))
    result = {"run": str(run), "weights": keras_file.name, "tflite": tflite.name, "bytes": tflite.stat().st_size,
              "test_accuracy": report["accuracy"], **{k: scores[k] for k in ("val", "leak_free_test", "leak_free_n")},
              "parity": {k: parity[k] for k in ("agreement", "accuracy", "float_accuracy", "accuracy_drop_pp")},
              "ms_median_1t": row["ms_median_1t"], "fer_reference_ms": ref["ms_median_1t"] if ref else None}
    (out / "release.json").write_text(json.dumps(result, indent=1) + "\n")
    log(f"release: {json.dumps(result)}")
    return result


def install(run) -> Path:
    """Copy ``run/release``'s INT8 model and card into the package as the default."""
    out = Path(run) / "release"
    result = json.loads((out / "release.json").read_text())
    shutil.copy2(out / result["tflite"], MODELS / f"{DEFAULT}.tflite")
    shutil.copy2(out / f"{DEFAULT}.md", MODELS / f"{DEFAULT}.md")
    return MODELS / f"{DEFAULT}.tflite"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished run folder (model.keras, train.json, best.json)")
    ap.add_argument("--data", default=str((REPO.parent / "shared" / "datasets" / "fer2013")))
    ap.add_argument("--hours", type=float, help="training hours for the card (campaign runs: the ledger's)")
    ap.add_argument("--install", action="store_true", help="also copy the model and card into fer_edge/models")
    a = ap.parse_args(argv)
    release(a.run, a.data, hours=a.hours)
    if a.install:
        print(f"installed {install(a.run)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
