"""Train a recipe on FER2013-style data: checkpoint every epoch, resume exactly, save a model with metadata.

Runs on any Keras 3 backend (TensorFlow on the workstation, JAX on the GPU
machine). Output folder layout::

    OUT/model.keras       best epoch on val/, with fer-edge metadata inside
    OUT/history.csv       one row per epoch (appended across resumes)
    OUT/model_ema.keras   best epoch of the weights' moving average (recipes with ``ema``)
    OUT/backup/           checkpoint.npz: weights, optimizer and EMA state after the last epoch
                          (deleted when a run completes)
    OUT/best.json         best val accuracy so far (survives resumes); best_ema.json likewise
    OUT/train.json        recipe, data, timing, machine and final metrics
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from fer_edge import __version__
from fer_edge.labels import ClassSet
from fer_edge.metadata import ModelMetadata, read_keras_metadata, write_keras_metadata
from fer_edge.preprocessing import Preprocessing
from fer_edge.sysinfo import machine

from . import recipes as recipes_mod
from .augment import NONE, Augment
from .data import FaceData, drop_leaks, load, stratified_indices
from .distill import short_path
from .ema import WeightAverage
from .feed import EpochFeed, Mixup, build_epoch
from .model_stats import summary as summary_of
from .schedules import constant_lr, cosine_lr


def class_weights(y: np.ndarray, n_classes: int, mode: str | None) -> dict[int, float] | None:
    """Loss weights against imbalance: ``balanced`` (1/n), ``sqrt`` (1/sqrt n), scaled to mean 1 per sample."""
    if not mode:
        return None
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    power = {"balanced": 1.0, "sqrt": 0.5}[mode]
    w = np.where(counts > 0, (counts.max() / np.maximum(counts, 1)) ** power, 0.0)
    w *= counts.sum() / max((w * counts).sum(), 1e-9)
    return {i: float(v) for i, v in enumerate(w)}


def make_sequence(data: FaceData, spec: Preprocessing, batch_size: int, augment: Augment, seed: int,
                  shuffle: bool, class_weight: dict[int, float] | None = None, teachers=None):
    """A ``keras.utils.PyDataset`` over :func:`.feed.build_epoch` (for keras-tuner, which wants a dataset).

    Batch ``i`` of epoch ``e`` is chunk ``i`` of that epoch's arrays (augmented with ``(seed, e, i)``), so
    it is deterministic. Batches are ``(x, targets)`` or, with ``class_weight``, ``(x, targets,
    sample_weight)`` (weights by the true label, also when ``teachers`` turn the targets soft).
    """
    import keras

    n_classes = len(data.classes)
    weights = None if class_weight is None else np.array([class_weight[i] for i in range(n_classes)], np.float32)

    class FaceSequence(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch, self.seed, self._built = 0, seed, None

        def __len__(self):
            return int(np.ceil(len(data) / batch_size))

        def __getitem__(self, i):
            if self._built is None or self._built[0] != self.epoch:
                self._built = (self.epoch, build_epoch(data.x, data.y, n_classes, spec, self.epoch, seed,
                                                       augment=augment, shuffle=shuffle, class_weights=weights,
                                                       teachers=teachers, chunk=batch_size))
            ep, sl = self._built[1], slice(i * batch_size, (i + 1) * batch_size)
            return (ep.x[sl], ep.targets[sl]) if ep.weights is None else (ep.x[sl], ep.targets[sl], ep.weights[sl])

    return FaceSequence()


def _reseed_layers(model, seed: int, epoch: int) -> None:
    """Set every layer's random state (dropout masks) from ``(seed, epoch)``.

    Keras does not save seed-generator states with the weights, so without this a
    resumed run would replay the first epoch's dropout masks.
    """
    import numpy as np

    i = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for gen in getattr(layer, "_seed_generators", []) or []:
            state = gen.state
            state.assign(np.array([seed * 7919 + i, epoch], dtype=state.dtype))
            i += 1


def _optimizer(recipe, schedule):
    import keras

    lr = schedule(0)
    name = recipe.optimizer.lower()
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay or None)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def use_devices(n: int | None = None) -> int:
    """Data-parallel training through Keras 3's distribution API (JAX backend): each batch split over ``n``
    devices, gradients summed across them, one model. Accelerators are used before CPUs (several CPU
    devices exist only under ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, which the tests use).

    ``n=None`` takes every accelerator there is (plain training on one device or none); ``n`` asks for exactly
    that many and raises ``ValueError`` when the backend is not JAX or fewer devices exist. Returns the number
    of devices used.
    """
    import keras

    if keras.backend.backend() != "jax":
        if n and n > 1:
            raise ValueError(f"--devices {n} trains through JAX: install jax and set KERAS_BACKEND=jax "
                             f"(this process runs Keras on {keras.backend.backend()})")
        return 1
    devices = keras.distribution.list_devices()
    accel = [d for d in devices if not str(d).lower().startswith("cpu")]
    if n is None:
        use = accel if len(accel) > 1 else []
    else:
        pool = accel or devices
        if len(pool) < n:
            raise ValueError(f"--devices {n}: JAX sees {len(pool)} ({', '.join(map(str, pool))})")
        use = pool[:n] if n > 1 else []
    if use:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=use))
    return max(1, len(use))


def build_model(recipe, n_classes: int, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    channels = 1 if recipe.color == "grayscale" else 3
    try:
        return recipe.build(n_classes, recipe.size, channels, **recipe.arch)
    except TypeError as e:  # an arch option this recipe's net does not take (fer-edge train --arch)
        raise ValueError(f"recipe {recipe.name}: arch options {recipe.arch}: {e}") from None


def init_from(model, path, labels) -> str:
    """Start from the weights of an earlier run of the same recipe (a longer or restarted schedule).

    The label order must match: weights trained for other classes would be silently wrong.
    """
    from .evaluate import load_keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init: no model file at {path}")
    try:
        prev = read_keras_metadata(path)
    except Exception as e:
        raise ValueError(f"--init: {path} is not a fer-edge .keras model ({e})") from None
    if list(prev.labels) != list(labels):
        raise ValueError(f"--init: {path} has labels {list(prev.labels)}, this run {list(labels)}")
    try:
        src = load_keras(path)
    except ValueError as e:
        raise ValueError(f"--init: {e}") from None
    theirs, ours = src.get_weights(), model.get_weights()
    if [w.shape for w in theirs] != [w.shape for w in ours]:
        raise ValueError(f"--init: {path} is another architecture ({src.count_params():,} params, "
                         f"this recipe {model.count_params():,})")
    # layers without weights (anti-aliased pooling, blur, mirror averaging) change the net as much: the same
    # weights in another graph would train something else than the run they came from
    kinds = lambda m: [type(layer).__name__ for layer in m.layers]  # noqa: E731
    if kinds(src) != kinds(model):
        diff = sorted(set(kinds(src)) ^ set(kinds(model))) or ["their order"]
        raise ValueError(f"--init: {path} is another architecture (layers differ: {', '.join(diff)}); give the "
                         "recipe the same arch options it was trained with")
    model.set_weights(theirs)
    return short_path(path)


def compile_model(model, recipe, schedule, loss=None):
    """``recipe``'s optimizer, and its cross-entropy unless another ``loss`` is given (a pair model's)."""
    import keras

    model.compile(optimizer=_optimizer(recipe, schedule),
                  loss=loss or keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=[] if loss else ["accuracy"])


def train(recipe_name: str, data, out, *, epochs: int | None = None, classes: str | None = None,
          seed: int = 0, resume: bool = False, batch_size: int | None = None, limit: int | None = None,
          dedupe: bool = True, verbose: int = 1, arch: dict | None = None, stop_after: int | None = None,
          init: str | Path | None = None, teachers=None, distill: float = 0.7, temperature: float = 1.0,
          augment: dict | None = None, deadline: float | None = None, fit_val: bool = False, devices: int | None = None,
          **overrides) -> dict:
    """Train ``recipe_name`` on ``data`` (CSV or folder root) into ``out``; returns the run summary.

    ``stop_after`` ends this call after that many epochs, ``deadline`` (a ``time.time()``
    value) before the first epoch that would not finish by then; ``resume=True`` later
    continues exactly where it stopped. ``init`` starts from an earlier run's weights
    (same recipe and labels) with this call's schedule. ``teachers`` (model paths) distil
    into this run: targets ``(1 - distill) * label + distill * teacher`` (:mod:`.distill`;
    the recipe's label smoothing is then off). ``augment`` overrides fields of the
    recipe's :class:`~.augment.Augment` (e.g. ``{"erase": 0.25}``).

    ``fit_val`` trains on ``train/`` + ``val/`` (the release retrain of a recipe already chosen on val): val then
    measures nothing held out, so no epoch is picked on it: the last epoch's weights are kept (EMA and plain), and
    :func:`best_weights` takes the EMA ones.

    ``devices`` trains data-parallel on that many devices (:func:`use_devices`; JAX backend).
    """
    import keras

    recipe = recipes_mod.get(recipe_name)
    recipe = recipe.with_overrides(epochs=epochs, batch_size=batch_size, classes=classes, **overrides)
    if arch:
        recipe = recipe.with_overrides(arch={**recipe.arch, **arch})
    if augment:
        recipe = recipe.with_overrides(augment=replace(recipe.augment or NONE, **augment))
    out = Path(out)
    if out.exists() and (out / "history.csv").exists() and not resume:
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    cs = ClassSet.parse(recipe.classes)
    spec = Preprocessing(size=recipe.size, color=recipe.color, canonical_side=recipe.canonical_side)

    t0 = time.time()
    schedule = cosine_lr(recipe.lr, recipe.epochs) if recipe.schedule == "cosine" else constant_lr(recipe.lr)
    n_devices = use_devices(devices)
    if recipe.batch_size % n_devices:
        raise ValueError(f"batch size {recipe.batch_size} does not split over {n_devices} devices")
    if os.environ.get("FER_EDGE_MIXED_PRECISION"):  # e.g. bfloat16 on a GPU; the heads stay float32
        keras.mixed_precision.set_global_policy(f"mixed_{os.environ['FER_EDGE_MIXED_PRECISION']}")
    model = build_model(recipe, len(cs), seed)
    started_from = init_from(model, init, cs.names) if init else None
    teach = None
    if teachers:
        from .distill import load_teachers
        teach = load_teachers(teachers, cs.names, distill, temperature)
        recipe = recipe.with_overrides(label_smoothing=0.0)
    if verbose:
        print(f"loading faces from {data} ...", flush=True)
    train_d, val_d = load(data, "train", cs), load(data, "val", cs)
    held = [] if fit_val else [val_d]
    if fit_val:
        train_d = train_d + val_d
    try:
        held.append(load(data, "test", cs))
    except (ValueError, OSError):
        pass
    cleaning = {}
    if dedupe:
        train_d, cleaning = drop_leaks(train_d, *held)
    if limit:
        train_d = train_d.subset(stratified_indices(train_d.y, limit, seed))
        val_d = val_d.subset(stratified_indices(val_d.y, max(len(cs) * 4, limit // 4), seed))
    if teach:
        teach.bind(train_d.names)
    if verbose:
        print(f"recipe {recipe.name}: {len(train_d)} train / {len(val_d)} val faces, classes {list(cs.names)}, "
              f"cleaning {cleaning}, backend {keras.backend.backend()}", flush=True)

    fit_model, loss = model, None
    if recipe.consistency:  # the net is trained on face pairs (.consistency); it alone is saved and evaluated
        from .consistency import pair_loss, pair_model
        fit_model, loss = pair_model(model), pair_loss(len(cs), recipe.consistency, recipe.label_smoothing)
    compile_model(fit_model, recipe, schedule, loss)
    cw = class_weights(train_d.y, len(cs), recipe.class_weight)
    cw = None if cw is None else np.array([cw[i] for i in range(len(cs))], np.float32)
    mix = Mixup(recipe.mixup, recipe.mixup_prob) if recipe.mixup else None
    feed = EpochFeed(lambda e: build_epoch(train_d.x, train_d.y, len(cs), spec, e, seed,
                                           augment=recipe.augment or NONE, class_weights=cw, teachers=teach,
                                           mixup=mix, pairs=bool(recipe.consistency),
                                           pair_mirror=recipe.consistency_mirror), recipe.epochs)
    val = build_epoch(val_d.x, val_d.y, len(cs), spec, 0, seed, shuffle=False)
    ema = WeightAverage(model, recipe.ema) if recipe.ema else None
    ckpt = Checkpoint(out / "backup")
    start = ckpt.restore(fit_model, ema) if resume else 0
    loop = _EpochLoop(out, model, schedule, ema, ckpt, verbose, keep_last=fit_val, fit_model=fit_model)
    paused = False
    try:
        for epoch in range(start, recipe.epochs):
            if stop_after and epoch - start >= stop_after or not loop.fits_before(deadline):
                paused = True
                break
            loop.run_epoch(epoch, feed[epoch], val, recipe.batch_size, seed)
            if recipe.patience and not fit_val and loop.since_best() >= recipe.patience:
                break
    finally:
        feed.close()
    elapsed = time.time() - t0
    epochs_run = _epochs_logged(out)
    if not (out / "best.json").exists():  # stopped before its first epoch (deadline): nothing to save yet
        return {"recipe": recipe.name, "epochs": recipe.epochs, "epochs_run": 0, "complete": False,
                "seconds_this_call": round(elapsed, 1), "epoch_seconds": [], "best_val_accuracy": None}
    complete = not paused
    if complete:
        shutil.rmtree(out / "backup", ignore_errors=True)

    best = json.loads((out / "best.json").read_text())
    if complete:
        slim_model_file(out / "model.keras")
        if (out / "model_ema.keras").exists():
            slim_model_file(out / "model_ema.keras")
    data_abs = Path(data).resolve()
    training = {"epochs_run": epochs_run, "complete": complete, "best_epoch": best["epoch"],
                "data": str(data_abs), "data_from_model": os.path.relpath(data_abs, out.resolve()),
                "train_images": len(train_d), "cleaning": cleaning, "seed": seed,
                "backend": keras.backend.backend(), "devices": n_devices,
                "seconds_this_call": round(elapsed, 1), "epoch_seconds": loop.epoch_seconds,
                **({"init_from": started_from} if started_from else {}),
                **({"distillation": teach.describe()} if teach else {}),
                **({"fit_val": True} if fit_val else {}),
                "machine": machine(), "fer_edge": __version__, **summary_of(model)}
    meta = ModelMetadata(labels=list(cs.names), preprocessing=spec, name=out.name, recipe=recipe.name,
                         format="keras", metrics={"val_accuracy": round(best["val_accuracy"], 4)}, training=training)
    write_keras_metadata(out / "model.keras", meta)
    if ema is not None and (out / "model_ema.keras").exists():
        ema_best = json.loads((out / "best_ema.json").read_text())
        write_keras_metadata(out / "model_ema.keras", ModelMetadata(
            labels=list(cs.names), preprocessing=spec, name=out.name + "-ema", recipe=recipe.name, format="keras",
            metrics={"val_accuracy": round(ema_best["val_accuracy"], 4)},
            training={**training, "best_epoch": ema_best["epoch"], "weights": f"EMA, decay {recipe.ema}"}))
    summary = {"recipe": recipe.name, "arch": recipe.arch, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
               "lr": recipe.lr, "optimizer": recipe.optimizer, "augment": (recipe.augment or NONE).to_dict(),
               "ema": recipe.ema, "mixup": recipe.mixup,
               **({"consistency": recipe.consistency} if recipe.consistency else {}),
               **({"consistency_mirror": recipe.consistency_mirror} if recipe.consistency_mirror else {}),
               **({"canonical_side": True} if recipe.canonical_side else {}),
               "classes": list(cs.names), "params": int(model.count_params()),
               **meta.training, "best_val_accuracy": best["val_accuracy"]}
    if (out / "best_ema.json").exists():
        summary["best_ema"] = json.loads((out / "best_ema.json").read_text())
    (out / "train.json").write_text(json.dumps(summary, indent=1))
    return summary


class Checkpoint:
    """Everything a resume needs after an epoch: weights, optimizer state, EMA; written atomically.

    Stored as arrays (not a ``.keras`` file) so restoring never rebuilds the model from a config.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / "checkpoint.npz"

    def save(self, model, epochs_done: int, ema=None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"w_{i}": w for i, w in enumerate(model.get_weights())}
        arrays.update({f"opt_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)})
        if ema is not None:
            arrays.update(ema.state())
        arrays["epochs_done"] = np.array(epochs_done)
        tmp = self.folder / "checkpoint.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(self.path)

    def restore(self, model, ema=None) -> int:
        """Load the checkpoint into ``model`` (compiled) and return the epochs already done; 0 without one."""
        if not self.path.exists():
            return 0
        with np.load(self.path) as z:
            n_w = len(model.weights)
            model.set_weights([z[f"w_{i}"] for i in range(n_w)])
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            for i, v in enumerate(model.optimizer.variables):
                v.assign(z[f"opt_{i}"])
            if ema is not None and "ema_steps" in z:
                ema.load_state(z)
            return int(z["epochs_done"])


class _EpochLoop:
    """One epoch: learning rate, fit on the epoch's arrays, val (and EMA val), log, keep best, checkpoint."""

    def __init__(self, out: Path, model, schedule, ema, ckpt: Checkpoint, verbose: int, keep_last: bool = False,
                 fit_model=None):
        import sys

        self.out, self.model, self.schedule, self.ema, self.ckpt = out, model, schedule, ema, ckpt
        self.fit_model = fit_model or model  # what is fitted (a pair model around ``model``), sharing its weights
        self.keep_last = keep_last  # val is in the training data (fit_val): keep every epoch, so the last one stays
        self.verbose = 0 if not verbose else (verbose if sys.stdout.isatty() else 2)
        self.epoch_seconds: list[float] = []

    def fits_before(self, deadline: float | None) -> bool:
        """Whether one more epoch ends before ``deadline``: as long as the slowest of the last five, not counting
        one over twice their median (a process paused for a benchmark, not a slower machine), plus 10%."""
        if deadline is None:
            return True
        recent = self.epoch_seconds[-5:]
        typical = [t for t in recent if t <= 2.0 * float(np.median(recent))]
        need = 1.1 * max(typical) if typical else 0.0
        return time.time() + need < deadline

    def since_best(self) -> int:
        hist = _history(self.out)
        best = json.loads((self.out / "best.json").read_text())["epoch"]
        return len(hist) - best

    def run_epoch(self, epoch: int, ep, val, batch_size: int, seed: int) -> None:
        from .ema import callback

        t = time.time()
        lr = float(self.schedule(epoch))
        fit = self.fit_model
        fit.optimizer.learning_rate.assign(lr)
        _reseed_layers(fit, seed, epoch)
        cbs = [callback(self.ema)] if self.ema is not None else []
        if self.verbose:
            print(f"epoch {epoch + 1}: lr {lr:.3g}", flush=True)
        paired = fit is not self.model  # its outputs are two views': val is scored on the net itself
        h = fit.fit(ep.x, ep.targets, sample_weight=ep.weights, batch_size=batch_size, epochs=epoch + 1,
                    initial_epoch=epoch, shuffle=False, verbose=self.verbose, callbacks=cbs,
                    **({} if paired else dict(validation_data=(val.x, val.targets), validation_batch_size=256)))
        row = {k: float(v[-1]) for k, v in h.history.items()}
        if paired:
            row["val_accuracy"] = _accuracy(self.model, val)
        row["learning_rate"] = lr
        if self.ema is not None:
            with self.ema.swapped_in() as m:
                row["val_ema_accuracy"] = _accuracy(m, val)
                self._keep_best(row["val_ema_accuracy"], epoch, "model_ema.keras", "best_ema.json")
        self._keep_best(row["val_accuracy"], epoch, "model.keras", "best.json")
        _append_history(self.out, epoch, row)
        self.ckpt.save(fit, epoch + 1, self.ema)
        self.epoch_seconds.append(round(time.time() - t, 1))
        if self.verbose:
            extra = f", EMA {row['val_ema_accuracy']:.4f}" if self.ema is not None else ""
            print(f"epoch {epoch + 1}: val_accuracy {row['val_accuracy']:.4f}{extra} "
                  f"({self.epoch_seconds[-1]:.0f} s)", flush=True)

    def _keep_best(self, acc: float, epoch: int, model_name: str, best_name: str) -> None:
        """Save the best epoch on val accuracy (the last epoch with ``keep_last``); the best so far survives a
        resume."""
        best_file = self.out / best_name
        best = json.loads(best_file.read_text())["val_accuracy"] if best_file.exists() else -1.0
        if acc > best or self.keep_last:
            self.model.save(self.out / model_name)
            best_file.write_text(json.dumps({"val_accuracy": acc, "epoch": epoch + 1,
                                             **({"selection": "last epoch (val is trained on)"}
                                                if self.keep_last else {})}))


def _accuracy(model, ep) -> float:
    probs = np.concatenate([np.asarray(model(ep.x[i:i + 256], training=False)) for i in range(0, len(ep.x), 256)])
    return float(np.mean(probs.argmax(1) == ep.targets.argmax(1)))


def _history(out: Path) -> list[dict]:
    import csv

    hist = out / "history.csv"
    return list(csv.DictReader(hist.open())) if hist.exists() else []


def _append_history(out: Path, epoch: int, row: dict) -> None:
    """One line per epoch; a resumed epoch replaces any line a killed process left for it."""
    import csv

    rows = [r for r in _history(out) if int(r["epoch"]) < epoch]
    keys = ["epoch"] + sorted(row)
    rows.append({"epoch": epoch, **row})
    with (out / "history.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def best_weights(run) -> Path:
    """A run's best model file: ``model_ema.keras`` when its val accuracy (``best_ema.json``) beats the plain
    weights' (``best.json``), else ``model.keras``. Val alone decides: test never picks. A ``fit_val`` run (val
    trained on) takes its EMA weights when it has them: the rule its recipe's held-out runs chose (c1, c6)."""
    run = Path(run)
    summary = run / "train.json"
    if summary.exists() and json.loads(summary.read_text()).get("fit_val"):
        return run / "model_ema.keras" if (run / "model_ema.keras").exists() else run / "model.keras"
    plain = json.loads((run / "best.json").read_text())["val_accuracy"]
    ema = run / "best_ema.json"
    if ema.exists() and (run / "model_ema.keras").exists() and json.loads(ema.read_text())["val_accuracy"] > plain:
        return run / "model_ema.keras"
    return run / "model.keras"


def slim_model_file(path) -> None:
    """Rewrite a ``.keras`` file without optimizer state (a third of the size), keeping its metadata."""
    import zipfile

    from fer_edge.metadata import METADATA_KEY, read_keras_metadata

    from .evaluate import load_keras

    with zipfile.ZipFile(path) as z:
        has_meta = METADATA_KEY in z.namelist()
    meta = read_keras_metadata(path) if has_meta else None
    load_keras(path).save(path)  # loaded uncompiled: no optimizer variables to save
    if meta is not None:
        write_keras_metadata(path, meta)


def _epochs_logged(out: Path) -> int:
    hist = out / "history.csv"
    return max(0, len(hist.read_text().strip().splitlines()) - 1) if hist.exists() else 0


def report_metrics(report: dict) -> dict:
    """The metadata keys of a test/ evaluation (what `fer-edge models` prints)."""
    return {"test_accuracy": round(report["accuracy"], 4), "test_macro_f1": round(report["macro_f1"], 4),
            "test_n": report["n"]}


def record_test_accuracy(model_path, report: dict) -> None:
    """Store a test/ evaluation in a .keras or .tflite model's metadata (children of a .keras inherit it)."""
    from fer_edge.metadata import read_keras_metadata

    numbers = report_metrics(report)
    if str(model_path).endswith(".tflite"):
        from .tflite_metadata import record_metrics

        record_metrics(model_path, numbers)
        return
    meta = read_keras_metadata(model_path)
    meta.metrics.update(numbers)
    write_keras_metadata(model_path, meta)
