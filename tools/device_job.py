"""Train a recipe on one particular remote GPU machine inside one call, then leave what may come back.

What a device call returns is capped (8 files, 16 MiB each, 64 MiB in all), its
machine starts bare, and the session's device time is short. So a job trains
against a wall-clock deadline (``--budget-s``; a run it cuts short resumes with
the same ``--run`` folder while the machine is warm), and :func:`bring_back`
copies the run's summary files and the best model (the other weights too, plain or
EMA, when they fit), split into parts under the per-file cap (:func:`join`
restores them here), plus, with ``--probs``, the
model's probabilities on the pack's train and val faces for offline distillation.
A run cut short also returns its whole folder (checkpoint included) as
``resume.tar`` parts when they fit, so a later session's bare machine can go on
from its last epoch (``--resume-from`` the returned folder, carried there) instead
of starting again: one GPU session's 15 minutes do not hold a 120-epoch run.
``tools/gpu_job.sh`` sets the machine up and calls this module.

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


from fer_edge.training.distill import write_teacher_cache

PART_BYTES = 15 << 20  # under the device's 16 MiB per returned file
MAX_FILES, MAX_BYTES = 8, 60 << 20  # what one device call returns: 8 files, 64 MiB in all (some kept spare)
SUMMARY = ("train.json", "best.json", "best_ema.json", "history.csv")
MODEL_FILES = ("model.keras", "model_ema.keras")  # plain and EMA weights, in that order
def bring_back(run: Path, dest: Path, *, data=None, log=print) -> list[Path]:
    """Copy the run's summaries and its best model (as ``model.keras.partN`` or ``model_ema.keras.partN``, the
    picked file's own name) to ``dest``; a cut-short run's state to resume from, then the other weights (plain or
    EMA) when they still fit what a call returns, so each is scored in its own column here. With ``data``, also
    ``probs.npz``: the model's labels, float16 probabilities and file names for each split of ``data`` (train,
    val): a teacher cache for ``fer-edge train --teacher probs.npz``."""
    from fer_edge.training.train import best_weights, slim_model_file

    dest.mkdir(parents=True, exist_ok=True)
    summary = json.loads((run / "train.json").read_text()) if (run / "train.json").exists() else {}
    cut_short = bool(summary) and not summary.get("complete")
    if cut_short:  # saved mid-run with optimizer state, 3x the size (train slims a finished run's itself)
        for f in MODEL_FILES:
            if (run / f).exists():
                slim_model_file(run / f)
    out = []
    for f in SUMMARY:
        if (run / f).exists():
            out.append(Path(shutil.copy(run / f, dest / f)))
    model = best_weights(run)
    if data is not None:
        out.append(write_teacher_cache(model, data, dest / "probs.npz", log=log))
    blob = model.read_bytes()
    out += _write_parts(blob, dest, model.name)
    msg = f"brought back {model.name} ({len(blob) / 2**20:.1f} MiB in {-(-len(blob) // PART_BYTES)} parts)"
    if cut_short:
        state = _tar_folder(run)
        if _fits(out, state):
            out += _write_parts(state, dest, "resume.tar")
            msg += f", the run's state to resume from epoch {summary.get('epochs_run')} ({len(state) / 2**20:.1f} MiB)"
        else:
            msg += (f"; its state ({len(state) / 2**20:.1f} MiB) does not fit what a call returns: a later session "
                    "restarts it")
    for other in (run / f for f in MODEL_FILES if f != model.name):
        if other.exists():
            blob = other.read_bytes()
            if _fits(out, blob):
                out += _write_parts(blob, dest, other.name)
                msg += f", {other.name} too"
            else:
                msg += f"; {other.name} ({len(blob) / 2**20:.1f} MiB) does not fit what a call returns"
    log(f"{msg} and {len(out)} files in all")
    return out


def _fits(out: list[Path], blob: bytes) -> bool:
    """Whether ``blob``'s parts still fit beside ``out`` in what one device call returns."""
    n = -(-len(blob) // PART_BYTES)
    return len(out) + n <= MAX_FILES and sum(p.stat().st_size for p in out) + len(blob) <= MAX_BYTES


def _write_parts(blob: bytes, dest: Path, name: str) -> list[Path]:
    parts = []
    for i in range(0, len(blob), PART_BYTES):
        parts.append(dest / f"{name}.part{i // PART_BYTES}")
        parts[-1].write_bytes(blob[i:i + PART_BYTES])
    return parts


def _tar_folder(folder: Path) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                t.add(f, arcname=str(f.relative_to(folder)))
    return buf.getvalue()


def restore_run(src, run, recipe: str, epochs: int) -> int:
    """Unpack a run's state returned by an earlier call (``resume.tar`` parts in ``src``) into the empty folder
    ``run``; returns the epochs it had run. Refuses state of another recipe or schedule."""
    import io
    import tarfile

    src, run = Path(src), Path(run)
    if (run / "history.csv").exists():
        raise FileExistsError(f"{run} already holds a run: resume it as it is, without --resume-from")
    blob = b"".join(p.read_bytes() for p in _parts(src, "resume.tar"))
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        s = json.loads(t.extractfile("train.json").read())
        if (s.get("recipe"), s.get("epochs")) != (recipe, epochs):
            raise ValueError(f"{src} holds {s.get('recipe')} for {s.get('epochs')} epochs, not {recipe} for {epochs}")
        run.mkdir(parents=True, exist_ok=True)
        t.extractall(run, filter="data")
    return int(s.get("epochs_run", 0))


def _parts(folder: Path, name: str) -> list[Path]:
    parts = sorted(folder.glob(f"{name}.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    if not parts:
        raise FileNotFoundError(f"no {name}.part* in {folder}")
    if [int(p.name.rsplit("part", 1)[1]) for p in parts] != list(range(len(parts))):
        raise ValueError(f"{folder}: parts are missing: {[p.name for p in parts]}")
    return parts


def join(folder) -> list[Path]:
    """Rebuild ``model.keras`` and ``model_ema.keras`` from their ``.part0..N`` in ``folder``, those that came back
    (the parts are kept; every set is checked whole before a file is written)."""
    folder = Path(folder)
    present = [n for n in MODEL_FILES if folder.is_dir() and any(folder.glob(f"{n}.part*"))]
    found = {name: _parts(folder, name) for name in present}
    if not found:
        raise FileNotFoundError(f"no model.keras.part* or model_ema.keras.part* in {folder}")
    for name, parts in found.items():
        with (folder / name).open("wb") as f:
            for p in parts:
                f.write(p.read_bytes())
    return [folder / name for name in found]


def pack_leak_free(root, out, log=print) -> dict:
    """Pack ``root``'s train and val for the device (:func:`~fer_edge.training.data.pack_folders`) without the
    train faces that are pixel-identical to a ``test/`` face: the pack has no test split, so training there could
    not drop them itself and its test score would count memorised faces. Val leaks and repeats are still dropped
    by training (:func:`.data.drop_leaks`). Returns what was left out."""
    from fer_edge.training.data import drop_leaks, load, pack_folders

    root, out = Path(root), Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: remove it first (a pack is never overwritten)")
    train = load(root, "train")
    kept, _ = drop_leaks(train, load(root, "test"), dedupe=False)
    leaked = set(train.names) - set(kept.names)
    pack_folders(root, out, skip=leaked)
    summary = {"train_faces": len(train), "left_out_as_test_copies": len(leaked), "pack": str(out),
               "mib": round(out.stat().st_size / 2**20, 1)}
    log(json.dumps(summary))
    return summary


ASIDE, ASIDE_MIN_BYTES = ".aside", 10_000
KEEP_FOR_DEVICE = ("results/campaign/plan.json", "tools/gpu_job.sh")  # and every .py file


def set_aside(root=None, log=print) -> dict:
    """Move the work tree's files a device job does not read (reports, plots, models, the runtime's detectors) to
    ``.aside/`` so the tree, the carried pack and a run's returned state stay under what a call takes (64 MiB);
    the code, the plan and the teacher files its GPU runs name stay. :func:`put_back` restores them."""
    root = Path(root) if root else _repo_root()
    aside = root / ASIDE
    if aside.exists():
        raise FileExistsError(f"{aside} exists: put it back first (python tools/device_job.py back)")
    from fer_edge.training.campaign import Campaign

    needed = set(KEEP_FOR_DEVICE)
    plan = root / "results" / "campaign" / "plan.json"
    if plan.is_file():
        for r in Campaign.load(plan).runs:
            if r.device == "gpu":
                needed.update(r.args.get("teachers", []))
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            check=True, capture_output=True).stdout.decode().split("\0")
    moved = []
    for rel in sorted(set(filter(None, listed))):
        f = root / rel
        if not f.is_file() or f.stat().st_size < ASIDE_MIN_BYTES or rel in needed or rel.endswith(".py"):
            continue
        (aside / rel).parent.mkdir(parents=True, exist_ok=True)
        f.replace(aside / rel)
        moved.append(rel)
    (aside / "manifest.json").write_text(json.dumps(moved, indent=0))
    summary = {"set_aside": len(moved), "mib": round(sum((aside / m).stat().st_size for m in moved) / 2**20, 1)}
    log(json.dumps(summary))
    return summary


def put_back(root=None, log=print) -> dict:
    """Return what :func:`set_aside` moved; a file that was written again meanwhile is kept and its set-aside
    copy left in ``.aside/`` (named, exit non-zero), never overwritten."""
    root = Path(root) if root else _repo_root()
    aside = root / ASIDE
    if not (aside / "manifest.json").is_file():
        raise FileNotFoundError(f"nothing set aside in {root} ({ASIDE}/manifest.json is missing)")
    clashes = []
    for rel in json.loads((aside / "manifest.json").read_text()):
        if (root / rel).exists():
            clashes.append(rel)
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (aside / rel).replace(root / rel)
    if clashes:
        (aside / "manifest.json").write_text(json.dumps(clashes, indent=0))
        raise RuntimeError(f"{len(clashes)} files were written again while set aside, kept as they are; their "
                           f"earlier copies stay in {aside}: {', '.join(clashes[:3])}")
    shutil.rmtree(aside)
    log(json.dumps({"put_back": "all"}))
    return {"put_back": "all"}


def _repo_root() -> Path:
    from fer_edge.training.campaign import REPO

    return REPO


def plan_or_recipe(name: str, plan=None) -> tuple[str, dict]:
    """``(recipe, train arguments)`` for a run of the campaign plan (``plan``: its file; default the repository's),
    else ``(name, {})`` for a recipe name."""
    from fer_edge.training.campaign import PLAN, Campaign, CampaignError
    from fer_edge.training.recipes import RECIPES

    if name in RECIPES:
        return name, {}
    try:
        run = Campaign.load(plan or PLAN).run(name)
    except CampaignError as e:
        raise SystemExit(f"device_job: {name!r} is neither a recipe ({', '.join(RECIPES)}) nor a plan run: {e}")
    print(f"plan run {run.name}: {run.recipe} {run.args}", flush=True)
    return run.recipe, run.train_args()


def _recipe_epochs(recipe: str) -> int:
    from fer_edge.training.recipes import get

    return get(recipe).epochs


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
    ap.add_argument("--plan", help="the campaign plan file (default: the repository's results/campaign/plan.json)")
    ap.add_argument("--resume-from", help="a folder an earlier call returned (resume.tar parts): go on from its "
                                          "last epoch on this bare machine")
    if argv is None:
        import sys
        argv = sys.argv[1:]
    tools = {"join": (join, "FOLDER"),  # here, after the call: the model files from their parts
             "probs": (write_teacher_cache, "MODEL DATA OUT.npz"),  # here: a teacher cache from a model
             "pack": (pack_leak_free, "DATA_ROOT OUT.npz"),  # here, before the call: the leak-free pack
             "aside": (set_aside, ""),  # here, before the call: big files the job does not read out of the tree
             "back": (put_back, "")}  # here, after the calls: them back
    if argv[:1] and argv[0] in tools:
        fn, usage = tools[argv[0]]
        if len(argv) - 1 != len(usage.split()):  # "".split() is []: aside and back take nothing
            raise SystemExit(f"usage: python tools/device_job.py {argv[0]} {usage}")
        try:
            r = fn(*argv[1:])
            if not isinstance(r, dict):  # the tools returning a dict have logged it
                print(*r, sep="\n") if isinstance(r, list) else print(r)
        except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as e:
            raise SystemExit(f"device_job {argv[0]}: {e}") from None
        return 0
    a = ap.parse_args(argv)
    t0 = time.time()
    from fer_edge.training.train import train

    recipe, args = plan_or_recipe(a.recipe, a.plan)
    args.update({k: v for k, v in (("epochs", a.epochs), ("ema", a.ema)) if v is not None})
    run = Path(a.run)
    if a.resume_from and not (run / "history.csv").exists():
        try:
            done = restore_run(a.resume_from, run, recipe, args.get("epochs") or _recipe_epochs(recipe))
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit(f"device_job --resume-from: {e}") from None
        print(f"resuming from epoch {done} returned by an earlier call ({a.resume_from})", flush=True)
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
