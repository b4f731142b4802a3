"""Named training recipes: architecture, input, optimiser, schedule and augmentation together.

A recipe is everything needed to reproduce a run; the CLI's ``--recipe NAME``
looks it up here. Seed recipes follow the published notebooks in
``shared/seeds`` (see ``docs/training.md``); ``edge-*`` are fer-edge's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from .augment import NONE, Augment


@dataclass(frozen=True)
class Recipe:
    name: str
    build: Callable  # (num_classes, size, channels, **arch) -> keras.Model
    arch: dict = field(default_factory=dict)
    size: int = 48
    color: str = "grayscale"
    classes: str | None = None  # None: the 7 FER2013 classes
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | constant
    batch_size: int = 64
    epochs: int = 40
    label_smoothing: float = 0.1
    class_weight: str | None = "sqrt"  # None | sqrt | balanced
    augment: Augment = field(default_factory=Augment)
    patience: int | None = None  # early stopping on val accuracy
    ema: float | None = None  # decay of a moving average of the weights, evaluated and saved beside them
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup; 0 = off
    mixup_prob: float = 0.5  # share of faces that are blended
    consistency: float = 0.0  # weight of the agreement of each face with its jittered copy (.consistency); 0 = off
    consistency_mirror: float = 0.0  # share of those copies that are also mirrored
    canonical_side: bool = False  # faces turned to one side before the net (preprocessing.canonical_side)
    search_space: dict = field(default_factory=dict)
    notes: str = ""

    def with_overrides(self, **kw) -> "Recipe":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _edge(*a, **k):
    from .architectures import edge_net
    return edge_net(*a, **k)


def _teacher(*a, **k):
    from .architectures import resnet_teacher
    return resnet_teacher(*a, **k)


def _seed(builder_name):
    def build(*a, **k):
        from . import seed_models
        return getattr(seed_models, builder_name)(*a, **k)
    build.__name__ = builder_name
    return build


RECIPES: dict[str, Recipe] = {}


def register(r: Recipe) -> Recipe:
    RECIPES[r.name] = r
    return r


register(Recipe("edge-s", _edge, dict(width=1.0), epochs=40,
                search_space={"width": [0.75, 1.0, 1.25], "dropout": [0.2, 0.4], "lr": [5e-4, 3e-3]},
                notes="fer-edge's small INT8/Edge-TPU-first CNN: 0.30 M params, 30 M MACs at 48x48"))
register(Recipe("edge-xs", _edge, dict(width=1.0, depth=(1, 1, 2, 2)), epochs=25,
                notes="edge-s with one conv in each of the two high-resolution stages: 0.28 M params, 19 M MACs, "
                      "about 0.65x edge-s's INT8 latency; meant to be distilled from edge-s (--teacher)"))
register(Recipe("edge-m", _edge, dict(width=1.5), epochs=60,
                notes="wider edge net, 0.66 M params, 66 M MACs"))
register(Recipe("edge-l", _edge, dict(width=1.5, depth=(2, 2, 3, 3)), epochs=150, ema=0.999,
                augment=Augment(erase=0.25),
                notes="the accurate tier's net (issue 14): edge-m with a third conv in the two low-resolution "
                      "stages, 1.08 M params, 90 M MACs (about 3x edge-s), Edge-TPU ops only; meant to be distilled "
                      "from the GPU teacher on the GPU machine"))
register(Recipe("teacher-resnet", _teacher, optimizer="sgd", lr=0.05, weight_decay=5e-4, batch_size=128, epochs=250,
                augment=Augment(erase=0.5), ema=0.999, mixup=0.2,
                notes="GPU teacher (issue 14): ResNet-18-style, 11 M params; SGD-Nesterov 0.05 cosine over 250 epochs, "
                      "random erasing, mixup, weight EMA; `results/campaign/gpu_job.sh` runs it on the packed data "
                      "(100 epochs without EMA reached 68.2% val in one H200 call)"))
register(Recipe("edge-sep", _edge, dict(width=2.0, separable_from=1), epochs=60,
                notes="edge net with depthwise-separable stages after the stem: fast inference, slow CPU training"))


# The published systems (docs/training.md maps each to its notebook and claims). Their optimiser,
# batch size and augmentation are as published; no label smoothing or class weights (they used none).
_SEED = dict(label_smoothing=0.0, class_weight=None, schedule="constant", weight_decay=0.0)
register(Recipe("seed-m2", _seed("seed_m2"), classes="neutral,surprise,happy,sad", optimizer="adam", lr=2.57e-4,
                batch_size=32, epochs=50, augment=Augment(shift=0.0, rotation=60.0, scale=(1.0, 1.0), brightness=0.0,
                                                          contrast=0.0), **_SEED,
                notes="notebook 000 Model 2; 4 classes; 1.32 M params; flip + 60 deg rotation"))
register(Recipe("seed-cnn1", _seed("seed_cnn1"), optimizer="adam", lr=1e-3, batch_size=256, epochs=20, augment=NONE,
                **_SEED, search_space={"kernel": [1, 3, 5], "dropout": [0.1, 0.35], "optimizer": ["adam", "sgd"],
                                       "activation": ["relu", "elu", "sigmoid"]},
                notes="notebook 001 cnn1; 2.72 M params; no augmentation; hyperopt space kept"))
register(Recipe("seed-cnn1-hyperopt", _seed("seed_cnn1"), arch=dict(kernel=5, dropout=0.245), optimizer="adam",
                lr=1e-3, batch_size=256, epochs=20, augment=NONE, **_SEED,
                notes="notebook 001's hyperopt best: relu, kernel 5, dropout 0.245, Adam"))
register(Recipe("seed-tuned4", _seed("seed_tuned4"), color="rgb", optimizer="adam", lr=5e-4, batch_size=32, epochs=50,
                augment=Augment(shift=0.2, rotation=20.0, scale=(0.8, 1.2), brightness=0.0, contrast=0.0), **_SEED,
                notes="notebook 002 keras-tuner final model; RGB input; 557,799 params"))
register(Recipe("seed-vgg", _seed("seed_vgg"), optimizer="adam", lr=1e-3, batch_size=64, epochs=10, augment=NONE,
                **_SEED, notes="notebook 003 improved VGG-style model; 647,111 params; 10 epochs as published"))
for _base in ("vgg16", "vgg19", "mobilenet", "resnet50"):
    register(Recipe(f"seed-transfer-{_base}", _seed("seed_transfer"), arch=dict(base=_base), size=224, optimizer="adam",
                    lr=1e-4, batch_size=16, epochs=15, patience=10,
                    augment=Augment(shift=0.1, rotation=10.0, scale=(0.9, 1.1), brightness=0.0, contrast=0.0),
                    **_SEED, notes=f"notebook 004 {_base} transfer; 224 px as published (--size 48..224); "
                                   "ImageNet weights only from --weights FILE"))


def recipe_table() -> str:
    """Markdown table of every recipe with its params and MACs (builds each model once)."""
    from fer_edge.labels import ClassSet

    from .model_stats import summary

    rows = ["| recipe | classes | input | params | MACs | epochs | optimiser | notes |", "|---|---|---|---|---|---|---|---|"]
    for r in RECIPES.values():
        n = len(ClassSet.parse(r.classes))
        st = summary(r.build(n, r.size, 1 if r.color == "grayscale" else 3, **r.arch))
        rows.append(f"| {r.name} | {n} | {r.size}x{r.size} {r.color} | {st['params']:,} | {st['macs'] / 1e6:.1f} M | "
                    f"{r.epochs} | {r.optimizer} {r.lr:g} | {r.notes} |")
    return "\n".join(rows)


def get(name: str) -> Recipe:
    if name not in RECIPES:
        import difflib
        close = difflib.get_close_matches(name, RECIPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown recipe {name!r}{hint}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def augment_for(recipe: Recipe) -> Augment:
    return recipe.augment if recipe.augment is not None else NONE
