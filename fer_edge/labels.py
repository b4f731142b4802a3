"""Emotion labels: the one place that knows FER2013's classes and their order.

FER2013's CSV numbers its classes 0 angry ... 6 neutral; image-folder releases
sort them alphabetically. Code maps by *name* through this module, never by
position, so a model trained on folders and one trained on the CSV agree.
"""
from __future__ import annotations

from dataclasses import dataclass

#: The seven FER2013 classes in the order of the CSV ``emotion`` column.
FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Names other releases use for the same classes.
ALIASES = {"anger": "angry", "disgusted": "disgust", "fearful": "fear", "happiness": "happy",
           "sadness": "sad", "surprised": "surprise", "contempt": None}


def canonical(name: str) -> str:
    """Lower-case class name with known aliases folded (``Happiness`` -> ``happy``)."""
    key = name.strip().lower()
    alias = ALIASES.get(key, key)
    if alias is None or alias not in FER2013_CLASSES:
        raise ValueError(f"unknown emotion class {name!r}; known: {', '.join(FER2013_CLASSES)}")
    return alias


@dataclass(frozen=True)
class ClassSet:
    """The output classes of a model and which FER2013 classes feed each one.

    ``names[i]`` is the label of output ``i``; ``sources[i]`` the FER2013 classes
    merged into it. FER2013 classes not in any source are dropped from the data.
    """

    names: tuple[str, ...]
    sources: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, spec: str | None) -> "ClassSet":
        """Parse ``"neutral,surprise,happy,sad"``, ``"sad+neutral"`` or ``"calm=sad+neutral"``.

        ``None`` or ``"all"`` means the seven FER2013 classes in CSV order.
        """
        if spec is None or spec.strip().lower() in ("", "all", "fer2013"):
            return cls(FER2013_CLASSES, tuple((c,) for c in FER2013_CLASSES))
        names, sources, seen = [], [], set()
        for token in (t.strip() for t in spec.split(",")):
            if not token:
                raise ValueError(f"empty class name in {spec!r}")
            name, _, members = token.partition("=") if "=" in token else ("", "", token)
            parts = tuple(canonical(p) for p in members.split("+"))
            for p in parts:
                if p in seen:
                    raise ValueError(f"class {p!r} appears twice in {spec!r}")
                seen.add(p)
            names.append(name.strip() or "+".join(parts))
            sources.append(parts)
        if len(names) < 2:
            raise ValueError(f"a classifier needs at least two classes, got {spec!r}")
        return cls(tuple(names), tuple(sources))

    @classmethod
    def from_names(cls, names) -> "ClassSet":
        """Rebuild from stored labels (``"sad+neutral"`` style names keep their sources)."""
        return cls(tuple(names), tuple(tuple(canonical(p) for p in n.split("+")) if "+" in n or n in FER2013_CLASSES
                                       else (n,) for n in names))

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, fer_class: str) -> int | None:
        """Output index a FER2013 class maps to, or None when the set drops it."""
        fer_class = canonical(fer_class)
        for i, members in enumerate(self.sources):
            if fer_class in members:
                return i
        return None

    def lookup_table(self, source_order) -> list[int | None]:
        """For labels numbered in ``source_order`` (e.g. alphabetical folders), the output index of each."""
        return [self.index_of(c) for c in source_order]
