"""The layers hold: runtime <- training <- converters <- release, no import cycle anywhere, and the device
runtime imports nothing but numpy, OpenCV, LiteRT, click and the standard library (plus aiohttp for `serve`
and paho-mqtt for MQTT). Read from the installed package's source, import by import (docs/architecture.md)."""
from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import fer_edge

PKG = Path(fer_edge.__file__).resolve().parent
#: the lower a layer, the earlier; a module may import its own layer and the ones before it
LAYERS = ("runtime", "training", "converters", "release")
#: what the runtime may import besides itself and the standard library; web/ and mqtt/ add their one extra each
RUNTIME_THIRD_PARTY = {"numpy", "cv2", "ai_edge_litert", "click", "tflite_runtime", "picamera2"}
EXTRA = {"fer_edge.web": {"aiohttp"}, "fer_edge.mqtt": {"paho"}}


def package_files() -> dict[str, Path]:
    """Module name -> source file of every module of the installed package (the wheel's or the editable map)."""
    import importlib

    files = {}
    for name in ("fer_edge", "fer_edge.training", "fer_edge.converters", "fer_edge.release"):
        base = Path(importlib.import_module(name).__file__).parent
        for f in base.rglob("*.py"):
            rel = f.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mod = ".".join([name, *parts])
            if name == "fer_edge" and parts and parts[0] in ("training", "converters", "release"):
                continue  # a wheel holds them inside fer_edge/: they are read under their own name
            files[mod] = f
    return files


def layer(module: str) -> str:
    part = module.split(".")[1] if module.count(".") else ""
    return part if part in LAYERS[1:] else "runtime"


def imports(module: str, path: Path, known) -> tuple[set[str], set[str]]:
    """(fer_edge modules, other top-level packages) that ``path`` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    inner, outer = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
            if target.split(".")[0] != "fer_edge":
                outer.add(target.split(".")[0])
                continue
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
            outer |= {n.split(".")[0] for n in names if n.split(".")[0] != "fer_edge"}
        else:
            continue
        for n in names:
            if n.split(".")[0] != "fer_edge":
                continue
            while n and n not in known:  # `from x import name`: name may be a function, not a module
                n = n.rpartition(".")[0]
            if n and n != module:
                inner.add(n)
    return inner, outer


@pytest.fixture(scope="module")
def graph():
    files = package_files()
    edges, outer = defaultdict(set), {}
    for mod, f in files.items():
        edges[mod], outer[mod] = imports(mod, f, files)
    return files, edges, outer


def test_the_package_is_read_whole(graph):
    files, _, _ = graph
    for mod in ("fer_edge.cli", "fer_edge.recognizer", "fer_edge.training.train", "fer_edge.converters.export",
                "fer_edge.release.cli", "fer_edge.release.tier", "fer_edge.mqtt.publisher"):
        assert mod in files


def test_every_import_goes_down_the_layers(graph):
    _, edges, _ = graph
    against = sorted(f"{a} -> {b}" for a, bs in edges.items() for b in bs
                     if LAYERS.index(layer(b)) > LAYERS.index(layer(a)))
    assert against == []


def test_there_is_no_import_cycle(graph):
    _, edges, _ = graph
    index, low, stack, on, cycles = {}, {}, [], set(), []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    # a package's __init__ importing its own modules is no cycle of ideas; anything else is
    assert [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)] == []


def test_the_device_runtime_imports_only_what_a_device_has(graph):
    files, _, outer = graph
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for mod in files:
        if layer(mod) != "runtime":
            continue
        allowed = RUNTIME_THIRD_PARTY | next((extra for pkg, extra in EXTRA.items() if mod.startswith(pkg)), set())
        assert outer[mod] - stdlib - allowed == set(), mod


def test_the_layer_test_can_fail(tmp_path):
    """The walker sees an arrow against the layers when one is there (a made-up module, read the same way)."""
    fake = tmp_path / "fake.py"
    fake.write_text("import os, tensorflow\nfrom fer_edge.training import train\nfrom .cli import main\n")
    inner, outer = imports("fer_edge.fake", fake, {"fer_edge.training", "fer_edge.training.train", "fer_edge.cli"})
    assert inner == {"fer_edge.training", "fer_edge.training.train", "fer_edge.cli"} and outer == {"os", "tensorflow"}
    assert layer("fer_edge.training.train") == "training" and layer("fer_edge.fake") == "runtime"


def test_tests_cannot_read_results():
    """conftest's audit hook refuses any read under results/ in the test process (models come from tests/fixtures)."""
    from conftest import ROOT

    with pytest.raises(PermissionError, match="tests do not read results/"):
        (ROOT / "results" / "README.md").read_text()
    assert (ROOT / "tests" / "fixtures" / "edge-s" / "model.keras").read_bytes()[:2] == b"PK"
