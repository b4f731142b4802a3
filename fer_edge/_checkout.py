"""Run from a git checkout the way the wheel installs: ``fer_edge.training`` and ``fer_edge.converters``.

The wheel maps the top-level ``training/`` and ``converters/`` folders into ``fer_edge`` (pyproject's
``package-dir``). When a checkout's ``fer_edge/`` shadows the installed package (``PYTHONPATH=.``,
``python -c`` or ``python -m pytest`` from the repository root), Python would not find them; this finder
maps the same two names, and nothing else, so a checkout and an install import the same modules.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_MAPPED = ("training", "converters")


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, name, path=None, target=None):
        parent, _, child = name.partition(".")
        if parent != "fer_edge" or child not in _MAPPED:
            return None
        init = self.root / child / "__init__.py"
        return importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(init.parent)])


def install(package_dir: Path) -> None:
    """Add the finder when ``package_dir`` sits in a checkout (pyproject + training/ + converters/ beside it)."""
    root = package_dir.parent
    if (package_dir / "training").exists() or not (root / "pyproject.toml").is_file():
        return
    if not all((root / child / "__init__.py").is_file() for child in _MAPPED):
        return
    if not any(isinstance(f, _CheckoutFinder) for f in sys.meta_path):
        sys.meta_path.append(_CheckoutFinder(root))
