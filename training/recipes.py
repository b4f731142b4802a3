"""Named training recipes: architecture, input, optimiser, schedule and augmentation together.

A recipe is everything needed to reproduce a run; the CLI's ``--recipe NAME``
looks it up here. Seed recipes follow the published notebooks in
``shared/seeds`` (see ``docs/recipes.md``); ``edge-*`` are fer-edge's own.
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
    search_space: dict = field(default_factory=dict)
    notes: str = ""

    def with_overrides(self, **kw) -> "Recipe":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _edge(*a, **k):
    from .architectures import edge_net
    return edge_net(*a, **k)


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
register(Recipe("edge-m", _edge, dict(width=1.5), epochs=60,
                notes="wider edge net, 0.66 M params, 66 M MACs"))
register(Recipe("edge-sep", _edge, dict(width=2.0, separable_from=1), epochs=60,
                notes="edge net with depthwise-separable stages after the stem: fast inference, slow CPU training"))


def get(name: str) -> Recipe:
    if name not in RECIPES:
        import difflib
        close = difflib.get_close_matches(name, RECIPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown recipe {name!r}{hint}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def augment_for(recipe: Recipe) -> Augment:
    return recipe.augment if recipe.augment is not None else NONE
