"""Train a recipe on FER2013-style data: checkpoint every epoch, resume exactly, save a model with metadata.

Runs on any Keras 3 backend (TensorFlow on the workstation, JAX on the GPU
machine). Output folder layout::

    OUT/model.keras       best epoch on val/, with fer-edge metadata inside
    OUT/history.csv       one row per epoch (appended across resumes)
    OUT/backup/           Keras BackupAndRestore state (deleted when a run completes)
    OUT/best.json         best val accuracy so far (survives resumes)
    OUT/train.json        recipe, data, timing, machine and final metrics
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from fer_edge import __version__
from fer_edge.labels import ClassSet
from fer_edge.metadata import ModelMetadata, read_keras_metadata, write_keras_metadata
from fer_edge.preprocessing import Preprocessing, normalize, resize_batch
from fer_edge.sysinfo import machine

from . import recipes as recipes_mod
from .augment import NONE, Augment
from .data import FaceData, drop_leaks, load, stratified_indices
from .distill import short_path
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
    """A ``keras.utils.PyDataset`` of normalised, augmented batches; deterministic per (seed, epoch, batch).

    Batches are ``(x, targets)`` or, with ``class_weight``, ``(x, targets, sample_weight)`` (weights by the
    true label, also when ``teachers`` (:class:`~.distill.Teachers`) turn the targets soft).
    """
    import keras

    n_classes = len(data.classes)
    weights = None if class_weight is None else np.array([class_weight[i] for i in range(n_classes)], np.float32)

    class FaceSequence(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch, self.seed = 0, seed

        def __len__(self):
            return int(np.ceil(len(data) / batch_size))

        def _order(self):
            if not shuffle:
                return np.arange(len(data))
            return np.random.default_rng([seed, self.epoch]).permutation(len(data))

        def __getitem__(self, i):
            idx = self._order()[i * batch_size:(i + 1) * batch_size]
            faces, y = data.x[idx], data.y[idx]
            if augment is not NONE:
                faces = augment(faces, np.random.default_rng([seed, self.epoch, i]))
            targets = np.eye(n_classes, dtype=np.float32)[y]
            if teachers is not None:
                targets = teachers.targets(faces, targets)
            x = normalize(resize_batch(faces, spec.size), spec)
            return (x, targets) if weights is None else (x, targets, weights[y])

    return FaceSequence()


def _callbacks(out: Path, seq, schedule, patience, verbose, stop_after):
    import keras

    best_file = out / "best.json"

    class EpochSetter(keras.callbacks.Callback):
        """Data order, augmentation and dropout draw from (seed, epoch), so a resumed epoch repeats exactly."""

        def on_epoch_begin(self, epoch, logs=None):
            seq.epoch = epoch
            _reseed_layers(self.model, seq.seed, epoch)

    class KeepBest(keras.callbacks.Callback):
        """Save the best epoch on val accuracy; the best so far survives a resume."""

        def on_epoch_end(self, epoch, logs=None):
            acc = float((logs or {}).get("val_accuracy", -1))
            best = json.loads(best_file.read_text())["val_accuracy"] if best_file.exists() else -1.0
            if acc > best:
                self.model.save(out / "model.keras")
                best_file.write_text(json.dumps({"val_accuracy": acc, "epoch": epoch + 1}))
                if verbose:
                    print(f"\nepoch {epoch + 1}: val_accuracy improved to {acc:.4f}, saved {out / 'model.keras'}")

    class StopAfter(keras.callbacks.Callback):
        """End this call after ``stop_after`` epochs; the backup stays for ``--resume``."""

        def __init__(self):
            super().__init__()
            self.done, self.paused = 0, False

        def on_epoch_end(self, epoch, logs=None):
            self.done += 1
            if stop_after and self.done >= stop_after:
                self.model.stop_training = self.paused = True

    # delete_checkpoint=False: Keras would delete the backup on any stop; we delete it when the run completes
    stopper = StopAfter()
    cbs = [EpochSetter(), stopper, keras.callbacks.BackupAndRestore(str(out / "backup"), delete_checkpoint=False),
           keras.callbacks.LearningRateScheduler(schedule),
           keras.callbacks.CSVLogger(str(out / "history.csv"), append=True), KeepBest()]
    if patience:
        cbs.append(keras.callbacks.EarlyStopping("val_accuracy", patience=patience, mode="max"))
    return cbs, stopper


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
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def use_all_accelerators() -> int:
    """Data-parallel training over every accelerator Keras 3's distribution API sees (JAX backend).

    Returns the number of devices used; 1 means plain single-device training.
    """
    import keras

    if keras.backend.backend() != "jax":
        return 1
    try:
        devices = keras.distribution.list_devices()
    except Exception:
        return 1
    accel = [d for d in devices if not str(d).lower().startswith("cpu")]
    if len(accel) > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=accel))
        return len(accel)
    return 1


def build_model(recipe, n_classes: int, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    channels = 1 if recipe.color == "grayscale" else 3
    return recipe.build(n_classes, recipe.size, channels, **recipe.arch)


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
    model.set_weights(theirs)
    return short_path(path)


def compile_model(model, recipe, schedule):
    import keras

    model.compile(optimizer=_optimizer(recipe, schedule),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])


def train(recipe_name: str, data, out, *, epochs: int | None = None, classes: str | None = None,
          seed: int = 0, resume: bool = False, batch_size: int | None = None, limit: int | None = None,
          dedupe: bool = True, verbose: int = 1, arch: dict | None = None, stop_after: int | None = None,
          init: str | Path | None = None, teachers=None, distill: float = 0.7, temperature: float = 1.0,
          **overrides) -> dict:
    """Train ``recipe_name`` on ``data`` (CSV or folder root) into ``out``; returns the run summary.

    ``stop_after`` ends this call after that many epochs (a CPU session's time
    budget); ``resume=True`` later continues exactly where it stopped. ``init`` starts
    from an earlier run's weights (same recipe and labels) with this call's schedule. ``teachers``
    (model paths) distil into this run: targets ``(1 - distill) * label + distill * teacher``
    (:mod:`.distill`; the recipe's label smoothing is then off, the teachers' probabilities are soft already).
    """
    import keras

    recipe = recipes_mod.get(recipe_name)
    recipe = recipe.with_overrides(epochs=epochs, batch_size=batch_size, classes=classes, **overrides)
    if arch:
        recipe = recipe.with_overrides(arch={**recipe.arch, **arch})
    out = Path(out)
    if out.exists() and (out / "history.csv").exists() and not resume:
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    cs = ClassSet.parse(recipe.classes)
    spec = Preprocessing(size=recipe.size, color=recipe.color)

    t0 = time.time()
    schedule = cosine_lr(recipe.lr, recipe.epochs) if recipe.schedule == "cosine" else constant_lr(recipe.lr)
    n_devices = use_all_accelerators()
    model = build_model(recipe, len(cs), seed)
    started_from = init_from(model, init, cs.names) if init else None
    teach = None
    if teachers:
        from .distill import load_teachers
        teach = load_teachers(teachers, cs.names, distill, temperature)
        recipe = recipe.with_overrides(label_smoothing=0.0)
    train_d, val_d = load(data, "train", cs), load(data, "val", cs)
    held = [val_d]
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
    if verbose:
        print(f"recipe {recipe.name}: {len(train_d)} train / {len(val_d)} val faces, classes {list(cs.names)}, "
              f"cleaning {cleaning}, backend {keras.backend.backend()}", flush=True)

    compile_model(model, recipe, schedule)
    train_seq = make_sequence(train_d, spec, recipe.batch_size, recipe.augment or NONE, seed, shuffle=True,
                              class_weight=class_weights(train_d.y, len(cs), recipe.class_weight), teachers=teach)
    val_seq = make_sequence(val_d, spec, 256, NONE, seed, shuffle=False)
    callbacks, stopper = _callbacks(out, train_seq, schedule, recipe.patience, verbose, stop_after)
    model.fit(train_seq, validation_data=val_seq, epochs=recipe.epochs, verbose=verbose, callbacks=callbacks)
    elapsed = time.time() - t0
    epochs_run = _epochs_logged(out)
    complete = epochs_run >= recipe.epochs or not stopper.paused
    if complete:
        shutil.rmtree(out / "backup", ignore_errors=True)

    best = json.loads((out / "best.json").read_text())
    if complete:
        slim_model_file(out / "model.keras")
    meta = ModelMetadata(labels=list(cs.names), preprocessing=spec, name=out.name, recipe=recipe.name,
                         format="keras", metrics={"val_accuracy": round(best["val_accuracy"], 4)},
                         training={"epochs_run": epochs_run, "complete": complete, "best_epoch": best["epoch"],
                                   "train_images": len(train_d), "cleaning": cleaning, "seed": seed,
                                   "backend": keras.backend.backend(), "devices": n_devices,
                                   "seconds_this_call": round(elapsed, 1),
                                   **({"init_from": started_from} if started_from else {}),
                                   **({"distillation": teach.describe()} if teach else {}),
                                   "machine": machine(), "fer_edge": __version__, **summary_of(model)})
    write_keras_metadata(out / "model.keras", meta)
    summary = {"recipe": recipe.name, "arch": recipe.arch, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
               "lr": recipe.lr, "optimizer": recipe.optimizer, "augment": (recipe.augment or NONE).to_dict(),
               "classes": list(cs.names), "params": int(model.count_params()), **meta.training,
               "best_val_accuracy": best["val_accuracy"]}
    (out / "train.json").write_text(json.dumps(summary, indent=1))
    return summary


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


def record_test_accuracy(model_path, report: dict) -> None:
    """Store a test/ evaluation in a .keras or .tflite model's metadata (children of a .keras inherit it)."""
    from fer_edge.metadata import read_keras_metadata

    numbers = {"test_accuracy": round(report["accuracy"], 4), "test_macro_f1": round(report["macro_f1"], 4),
               "test_n": report["n"]}
    if str(model_path).endswith(".tflite"):
        from fer_edge.converters.export import record_metrics
        record_metrics(model_path, numbers)
        return
    meta = read_keras_metadata(model_path)
    meta.metrics.update(numbers)
    write_keras_metadata(model_path, meta)
