"""Train a recipe on the lent GPU machine inside one call, then leave what may come back.

What a device call returns is capped (8 files, 16 MiB each, 64 MiB in all), its
machine starts bare, and the session's device time is short. So a job trains
against a wall-clock deadline (``--budget-s``; a run it cuts short resumes with
the same ``--run`` folder while the machine is warm), and :func:`bring_back`
copies the run's summary files and the best model, split into parts under the
per-file cap (:func:`join` restores it here), plus, with ``--probs``, the
model's probabilities on the pack's train and val faces for offline distillation.
``results/campaign/gpu_job.sh`` sets the machine up and calls this module.

The job is named by a recipe, or by a run of the campaign plan (``results/campaign/plan.json``), whose recipe and
arguments (schedule, EMA, augmentation, teachers) it then trains: the plan stays the one place a run is declared.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

PART_BYTES = 15 << 20  # under the device's 16 MiB per returned file
SUMMARY = ("train.json", "best.json", "best_ema.json", "history.csv")
REPO_SHARED_TOOL = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "fer2013_pack.py"


def bring_back(run: Path, dest: Path, *, data=None, log=print) -> list[Path]:
    """Copy the run's summaries and its best model (as ``model.keras.partN``) to ``dest``; with ``data``, also
    ``probs.npz``: the model's labels, float16 probabilities and file names for each split of ``data`` (train,
    val): a teacher cache for ``fer-edge train --teacher probs.npz``."""
    from .train import best_weights

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for f in SUMMARY:
        if (run / f).exists():
            out.append(Path(shutil.copy(run / f, dest / f)))
    model = best_weights(run)
    if data is not None:
        out.append(write_probs(model, data, dest / "probs.npz", log=log))
    blob = model.read_bytes()
    for i in range(0, len(blob), PART_BYTES):
        part = dest / f"model.keras.part{i // PART_BYTES}"
        part.write_bytes(blob[i:i + PART_BYTES])
        out.append(part)
    log(f"brought back {model.name} ({len(blob) / 2**20:.1f} MiB in {-(-len(blob) // PART_BYTES)} parts) and "
        f"{len(out)} files in all")
    return out


def write_probs(model, data, dest, log=print) -> Path:
    """A teacher cache for ``fer-edge train --teacher CACHE.npz``: ``model``'s labels, float16 probabilities and
    file names for each face of ``data``'s train and val splits."""
    from .data import load
    from .evaluate import load_predictor

    pred = load_predictor(model)
    arrays = {"labels": np.array(pred.metadata.labels)}
    for split in ("train", "val"):
        d = load(data, split)
        p = pred.predict(d.x)
        arrays[split], arrays[f"{split}_names"] = p.astype(np.float16), np.array(d.names)
        log(f"{Path(model).name} on {split}: {len(d)} faces, accuracy {float((p.argmax(1) == d.y).mean()):.4f}")
    np.savez_compressed(dest, **arrays)
    return Path(dest)


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


def pack_leak_free(root, out, tool=None, log=print) -> dict:
    """Pack ``root``'s train and val for the device (``shared/tools/fer2013_pack.py``) without the train faces
    that are pixel-identical to a ``test/`` face: the pack has no test split, so training there could not drop
    them itself and its test score would count memorised faces. Val leaks and repeats are still dropped by
    training (:func:`.data.drop_leaks`). Returns what was left out."""
    import sys
    import tempfile

    from .data import drop_leaks, load

    root, out = Path(root), Path(out)
    tool = Path(tool) if tool else REPO_SHARED_TOOL
    if not tool.is_file():
        raise FileNotFoundError(f"the pack tool {tool} is missing")
    if out.exists():
        raise FileExistsError(f"{out} exists: remove it first (a pack is never overwritten)")
    train = load(root, "train")
    kept, _ = drop_leaks(train, load(root, "test"), dedupe=False)
    leaked = set(train.names) - set(kept.names)
    with tempfile.TemporaryDirectory() as tmp:
        for split in ("train", "val"):
            for f in (root / split).glob("*/*"):
                name = f"{f.parent.name}/{f.name}"
                if split == "train" and name in leaked:
                    continue
                link = Path(tmp) / split / name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f.resolve())
        subprocess.run([sys.executable, str(tool), "pack", tmp, str(out)], check=True)
    summary = {"train_faces": len(train), "left_out_as_test_copies": len(leaked), "pack": str(out),
               "mib": round(out.stat().st_size / 2**20, 1)}
    log(json.dumps(summary))
    return summary


def plan_or_recipe(name: str) -> tuple[str, dict]:
    """``(recipe, train arguments)`` for a run of the campaign plan, else ``(name, {})`` for a recipe name."""
    from .campaign import Campaign, CampaignError
    from .recipes import RECIPES

    if name in RECIPES:
        return name, {}
    try:
        run = Campaign.load().run(name)
    except CampaignError as e:
        raise SystemExit(f"device_job: {name!r} is neither a recipe ({', '.join(RECIPES)}) nor a plan run: {e}")
    print(f"plan run {run.name}: {run.recipe} {run.args}", flush=True)
    return run.recipe, run.train_args()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", help="a recipe, or a run of the campaign plan (its recipe and arguments)")
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
    tools = {"join": (join, "FOLDER"),  # here, after the call: model.keras from its parts
             "probs": (write_probs, "MODEL DATA OUT.npz"),  # here: a teacher cache from a model
             "pack": (pack_leak_free, "DATA_ROOT OUT.npz")}  # here, before the call: the leak-free pack
    if argv[:1] and argv[0] in tools:
        fn, usage = tools[argv[0]]
        if len(argv) - 1 != len(usage.split()):
            raise SystemExit(f"usage: python -m fer_edge.training.device_job {argv[0]} {usage}")
        try:
            print(fn(*argv[1:]))
        except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as e:
            raise SystemExit(f"device_job {argv[0]}: {e}") from None
        return 0
    a = ap.parse_args(argv)
    t0 = time.time()
    from .train import train

    recipe, args = plan_or_recipe(a.recipe)
    args.update({k: v for k, v in (("epochs", a.epochs), ("ema", a.ema)) if v is not None})
    run = Path(a.run)
    s = train(recipe, a.data, run, limit=a.limit, verbose=2, deadline=t0 + a.budget_s,
              resume=(run / "history.csv").exists(), **args)
    print(json.dumps({k: s.get(k) for k in ("recipe", "epochs_run", "epochs", "complete", "best_val_accuracy")}),
          flush=True)
    if not s["epochs_run"]:
        print("no epoch finished inside the budget: nothing to bring back", flush=True)
        return 1
    bring_back(run, Path(a.bring_back), data=a.data if a.probs else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
