"""Train a recipe on the lent GPU machine inside one call, then leave what may come back.

What a device call returns is capped (8 files, 16 MiB each, 64 MiB in all), its
machine starts bare, and the session's device time is short. So a job trains
against a wall-clock deadline (``--budget-s``; a run it cuts short resumes with
the same ``--run`` folder while the machine is warm), and :func:`bring_back`
copies the run's summary files and the best model, split into parts under the
per-file cap (:func:`join` restores it here), plus, with ``--probs``, the
model's probabilities on the pack's train and val faces for offline distillation.
``results/campaign/gpu_job.sh`` sets the machine up and calls this module.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

PART_BYTES = 15 << 20  # under the device's 16 MiB per returned file
SUMMARY = ("train.json", "best.json", "best_ema.json", "history.csv")


def bring_back(run: Path, dest: Path, *, data=None, log=print) -> list[Path]:
    """Copy the run's summaries and its best model (as ``model.keras.partN``) to ``dest``; with ``data``, also
    ``probs.npz``: the model's labels, float16 probabilities and file names for each split of ``data`` (train,
    val): a teacher cache for ``fer-edge train --teacher probs.npz``."""
    from .evaluate import load_predictor
    from .train import best_weights

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for f in SUMMARY:
        if (run / f).exists():
            out.append(Path(shutil.copy(run / f, dest / f)))
    model = best_weights(run)
    if data is not None:
        from .data import load

        pred = load_predictor(model)
        arrays = {"labels": np.array(pred.metadata.labels)}
        for split in ("train", "val"):
            d = load(data, split)
            p = pred.predict(d.x)
            arrays[split], arrays[f"{split}_names"] = p.astype(np.float16), np.array(d.names)
            log(f"{model.name} on {split}: {len(d)} faces, accuracy {float((p.argmax(1) == d.y).mean()):.4f}")
        np.savez_compressed(dest / "probs.npz", **arrays)
        out.append(dest / "probs.npz")
    blob = model.read_bytes()
    for i in range(0, len(blob), PART_BYTES):
        part = dest / f"model.keras.part{i // PART_BYTES}"
        part.write_bytes(blob[i:i + PART_BYTES])
        out.append(part)
    log(f"brought back {model.name} ({len(blob) / 2**20:.1f} MiB in {-(-len(blob) // PART_BYTES)} parts) and "
        f"{len(out)} files in all")
    return out


def join(folder) -> Path:
    """Rebuild ``model.keras`` from ``model.keras.part0..N`` in ``folder`` (the parts are kept)."""
    folder = Path(folder)
    parts = sorted(folder.glob("model.keras.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    if not parts:
        raise FileNotFoundError(f"no model.keras.part* in {folder}")
    if [int(p.name.rsplit("part", 1)[1]) for p in parts] != list(range(len(parts))):
        raise ValueError(f"{folder}: parts are missing: {[p.name for p in parts]}")
    target = folder / "model.keras"
    with target.open("wb") as f:
        for p in parts:
            f.write(p.read_bytes())
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--data", required=True, help="pack .npz or data root")
    ap.add_argument("--run", required=True, help="run folder (resumed when it holds a run)")
    ap.add_argument("--bring-back", required=True, help="folder for what returns ($OUT on the device)")
    ap.add_argument("--budget-s", type=float, required=True, help="training stops before this many seconds")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--ema", type=float, help="EMA decay (0 turns the recipe's EMA off)")
    ap.add_argument("--limit", type=int, help="stratified subset (smoke runs)")
    ap.add_argument("--probs", action="store_true", help="also return the best model's train/val probabilities")
    if argv is None:
        import sys
        argv = sys.argv[1:]
    if argv[:1] == ["join"]:  # here, after the call: python -m fer_edge.training.device_job join FOLDER
        print(join(argv[1]))
        return 0
    a = ap.parse_args(argv)
    t0 = time.time()
    from .train import train

    run = Path(a.run)
    extra = {} if a.ema is None else {"ema": a.ema}
    s = train(a.recipe, a.data, run, epochs=a.epochs, limit=a.limit, verbose=2, deadline=t0 + a.budget_s,
              resume=(run / "history.csv").exists(), **extra)
    print(json.dumps({k: s.get(k) for k in ("recipe", "epochs_run", "epochs", "complete", "best_val_accuracy")}),
          flush=True)
    if not s["epochs_run"]:
        print("no epoch finished inside the budget: nothing to bring back", flush=True)
        return 1
    bring_back(run, Path(a.bring_back), data=a.data if a.probs else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
