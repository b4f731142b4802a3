"""``fer-edge train --search``: keras-tuner random search over a recipe's declared space, on ``val/``.

A recipe's ``search_space`` maps a name to either a list of choices or a
``[low, high]`` float range (``lr`` is searched on a log scale). ``lr`` and
``optimizer`` set the recipe; every other name is an architecture argument.
The tuner's state lives in ``OUT/tuner`` so an interrupted search resumes.
"""
from __future__ import annotations

import json
from pathlib import Path

from fer_edge.labels import ClassSet
from fer_edge.preprocessing import Preprocessing

from . import recipes as recipes_mod
from .augment import NONE
from .data import drop_leaks, load, stratified_indices
from .schedules import constant_lr, cosine_lr
from .train import build_model, class_weights, compile_model, make_sequence

RECIPE_KEYS = ("lr", "optimizer")


def _is_range(values) -> bool:
    return len(values) == 2 and all(isinstance(v, float) for v in values)


def search(recipe_name: str, data, out, *, trials: int = 8, epochs: int | None = None, classes: str | None = None,
           seed: int = 0, limit: int | None = None, verbose: int = 1) -> dict:
    """Run (or resume) a search; writes ``search.json`` and ``search.md`` and returns the summary."""
    import keras_tuner as kt

    base = recipes_mod.get(recipe_name).with_overrides(epochs=epochs, classes=classes)
    if not base.search_space:
        raise ValueError(f"recipe {recipe_name!r} declares no search space")
    cs = ClassSet.parse(base.classes)
    spec = Preprocessing(size=base.size, color=base.color)
    train_d, val_d = load(data, "train", cs), load(data, "val", cs)
    train_d, _ = drop_leaks(train_d, val_d)
    if limit:
        train_d = train_d.subset(stratified_indices(train_d.y, limit, seed))
        val_d = val_d.subset(stratified_indices(val_d.y, max(4 * len(cs), limit // 4), seed))
    train_seq = make_sequence(train_d, spec, base.batch_size, base.augment or NONE, seed, shuffle=True,
                              class_weight=class_weights(train_d.y, len(cs), base.class_weight))
    val_seq = make_sequence(val_d, spec, 256, NONE, seed, shuffle=False)

    def build(hp):
        arch, over = dict(base.arch), {}
        for name, values in base.search_space.items():
            if _is_range(values):
                v = hp.Float(name, values[0], values[1], sampling="log" if name == "lr" else "linear")
            else:
                v = hp.Choice(name, values)
            (over if name in RECIPE_KEYS else arch)[name] = v
        r = base.with_overrides(arch=arch, **over)
        schedule = cosine_lr(r.lr, r.epochs) if r.schedule == "cosine" else constant_lr(r.lr)
        model = build_model(r, len(cs), seed)
        compile_model(model, r, schedule)
        return model

    out = Path(out)
    tuner = kt.RandomSearch(build, objective=kt.Objective("val_accuracy", "max"), max_trials=trials, seed=seed,
                            directory=str(out / "tuner"), project_name=base.name, overwrite=False)
    tuner.search(train_seq, validation_data=val_seq, epochs=base.epochs, verbose=verbose)
    rows = []
    for t in tuner.oracle.get_best_trials(num_trials=trials):
        rows.append({"trial": t.trial_id, "val_accuracy": t.score, "hyperparameters": t.hyperparameters.values})
    # keras-tuner leaves tied scores in arbitrary order (it changed between a search and its resume):
    # ties go to the earlier trial, so the table and "best" are stable
    rows.sort(key=lambda r: (-(r["val_accuracy"] if r["val_accuracy"] is not None else -1.0), int(r["trial"])))
    summary = {"recipe": base.name, "epochs_per_trial": base.epochs, "train_images": len(train_d),
               "val_images": len(val_d), "trials": rows, "best": rows[0]["hyperparameters"] if rows else None}
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(summary, indent=1, default=str))
    lines = [f"# Search: {base.name}", "", f"{len(rows)} trials, {base.epochs} epochs each, "
             f"{len(train_d)} train / {len(val_d)} val faces; selected on val accuracy.", "",
             "| trial | val accuracy | hyper-parameters |", "|---|---|---|"]
    lines += [f"| {r['trial']} | {r['val_accuracy']:.4f} | {json.dumps(r['hyperparameters'], default=str)} |"
              for r in rows if r["val_accuracy"] is not None]
    (out / "search.md").write_text("\n".join(lines) + "\n")
    return summary
