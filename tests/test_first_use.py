"""What a new user hit, each checked (issue 32): sources that yield nothing, native libraries' noise,
the Coral recipe, the Pi extra, image-type messages, version and names, numbers in the docs."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import fer_edge
from fer_edge import EmotionRecognizer, ImageError
from command import FER_EDGE

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _cli(*args, cwd=None, env=None):
    return subprocess.run([*FER_EDGE, *map(str, args)], capture_output=True, text=True,
                          timeout=180, cwd=cwd, env=env)


@pytest.mark.runtime
def test_a_source_that_yields_no_frame_is_one_line_and_exit_2(tmp_path):
    broken = tmp_path / "BROKEN.jpg"
    broken.write_bytes(b"\xff\xd8not a jpeg at all" * 4)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name in ("BROKEN.jpg", "empty.mp4", "empty.jpg"):
        r = _cli("camera", "--source", tmp_path / name, "--no-display")
        # one line of fer-edge's own, and none of FFmpeg's ("No JPEG data found", "moov atom not found")
        assert r.returncode == 2 and r.stderr.splitlines() == [
            f"error: {tmp_path / name}: no frame could be read (empty, damaged or not a video or image)"], r.stderr
    r = _cli("-v", "camera", "--source", tmp_path / "empty.mp4", "--no-display")
    assert r.returncode == 2 and len(r.stderr.splitlines()) > 1  # -v shows what the libraries said


@pytest.mark.runtime
def test_predict_on_a_broken_video_says_it_once(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    r = _cli("predict", tmp_path / "empty.mp4")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [f"error: {tmp_path / 'empty.mp4'}: no frame could be read (empty, damaged or not a "
                                     "video or image)", "1 of 1 inputs failed"]


@pytest.mark.runtime
@pytest.mark.parametrize("given, says", [(None, "got NoneType (cv2.imread returns None"),
                                         ("photo.jpg", "got str (a path? read the file first, e.g. cv2.imread"),
                                         (Path("photo.jpg"), "got PosixPath (a path?"),
                                         (7, "got int, shape ()")])
def test_recognize_says_an_image_array_is_expected_and_what_was_given(given, says):
    with EmotionRecognizer.create_from_model_path() as rec:
        with pytest.raises(ImageError, match=re.escape(says)):
            rec.recognize(given)


def test_the_pi_extra_installs_on_arm_only():
    import tomllib

    from packaging.markers import Marker, default_environment
    from packaging.requirements import Requirement

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["pi"]
    (req,) = (Requirement(r) for r in extra)
    assert req.name == "picamera2"
    env = default_environment()
    for machine, wanted in (("x86_64", False), ("AMD64", False), ("aarch64", True), ("armv7l", True)):
        assert req.marker.evaluate({**env, "platform_system": "Linux", "platform_machine": machine}) is wanted
    assert isinstance(req.marker, Marker)


def test_version_and_names():
    assert fer_edge.__version__ == "0.4.6"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    top = re.search(r"^# Changelog\n+## (\S+)", changelog, re.M)
    assert top and top.group(1) == fer_edge.__version__  # the changelog's newest release is this one
    assert not re.search(r"still\s+written\s+in\s+0\.2", (ROOT / "README.md").read_text())


def test_the_coral_recipe_converts_the_defaults_parent():
    """The README's convert command names the default model's float parent: the file its metadata records, in the
    run folder its card names (the file itself is a result, which tests do not read)."""
    from fer_edge.classifier import DEFAULT_MODEL, bundled_models
    from fer_edge.metadata import read_tflite_metadata

    readme = (ROOT / "README.md").read_text()
    (path,) = re.findall(r"^fer-edge convert (\S+\.keras) --edgetpu", readme, re.M)
    card = (ROOT / "fer_edge" / "models" / "fer_edge_default.md").read_text()
    source = read_tflite_metadata(bundled_models()[DEFAULT_MODEL].read_bytes()).source
    assert Path(path).name == source["file"] and f"{Path(path).parent.as_posix()}/" in card
    assert re.search(r"float parent sha256 `([0-9a-f]+)", card).group(1) == source["sha256"][:16]
    stem = Path(path).stem
    assert f"{stem}_edgetpu_edgetpu.tflite --device usb" in readme


def test_convert_never_suggests_predicting_on_the_compilers_input(tmp_path):
    pytest.importorskip("tensorflow")
    from fer_edge.classifier import DEFAULT_MODEL, bundled_models
    from fer_edge.release.cli import _next_step
    from fer_edge.converters.tflite import run_edgetpu_compiler

    env = os.environ["PATH"]
    try:
        os.environ["PATH"] = "/nonexistent"
        comp = run_edgetpu_compiler(bundled_models()[DEFAULT_MODEL], tmp_path)
    finally:
        os.environ["PATH"] = env
    res = {"outputs": [{"format": "int8", "file": "m_int8.tflite"},
                       {"format": "edgetpu", "file": "m_edgetpu.tflite", "edgetpu_compiler": comp}]}
    line = _next_step(res, tmp_path, "m.keras")
    assert f"--model {tmp_path / 'm_edgetpu.tflite'}" not in line
    assert f"edgetpu_compiler -s -o {tmp_path} {tmp_path / 'm_edgetpu.tflite'}" in line
    assert f"fer-edge predict IMAGE --model {tmp_path / 'm_int8.tflite'}" in line
    done = {**comp, "compiled": True, "file": "m_edgetpu_edgetpu.tflite"}
    line = _next_step({"outputs": [{"format": "edgetpu", "file": "m_edgetpu.tflite", "edgetpu_compiler": done}]},
                      tmp_path, "m.keras")
    assert f"--model {tmp_path / 'm_edgetpu_edgetpu.tflite'} --device usb" in line


def test_numbers_in_the_docs_come_from_the_code():
    """MAC and parameter counts the docs give are the recipes' own (fer-edge train --list builds them)."""
    pytest.importorskip("keras")
    from fer_edge.labels import ClassSet
    from fer_edge.training.model_stats import summary
    from fer_edge.training.recipes import RECIPES

    stats = {}
    for r in RECIPES.values():
        if r.name.startswith("edge-"):
            st = summary(r.build(len(ClassSet.parse(r.classes)), r.size, 1, **r.arch))
            stats[r.name] = (f"{st['params']:,}", f"{st['macs'] / 1e6:.1f}")
            st = summary(r.build(len(ClassSet.parse(r.classes)), r.size, 1, **{**r.arch, "mirror": True}))
            stats[f"{r.name} mirror-averaged"] = (f"{st['params']:,}", f"{st['macs'] / 1e6:.1f}")
    table = (ROOT / "docs" / "training.md").read_text()
    for name, (params, macs) in ((n, v) for n, v in stats.items() if "mirror" not in n):  # the recipe table's rows
        assert re.search(rf"^\| {re.escape(name)} \| \d+ \| [^|]+ \| {params} \| {macs} M \|", table, re.M), name
    # the shipped tiers' graphs, built from the recipes as the release builds them, and their files' counts
    from fer_edge.classifier import TIERS, EmotionClassifier, bundled_models
    from fer_edge.training.architectures import averaged

    def net(name, **arch):
        r = RECIPES[name]
        return r.build(len(ClassSet.parse(r.classes)), r.size, 1, **{**r.arch, **arch})

    graphs = {"default": averaged([net("edge-s", antialias=True)], mirror=True, blur=0.6),
              "fast": averaged([net("edge-xs")], blur=0.5),
              "accurate": averaged([net("edge-s"), net("edge-s")], mirror=True, blur=0.5)}
    graphs["edge-s anti-aliased, one view"] = net("edge-s", antialias=True)  # the single-pass default's candidate
    for tier, graph in graphs.items():
        st = summary(graph)
        stats[f"{tier} tier"] = (f"{st['params']:,}", f"{st['macs'] / 1e6:.1f}")
        if TIERS.get(tier) in bundled_models():
            assert EmotionClassifier(model=tier).metadata.training["macs"] == st["macs"], tier
    allowed_macs = {m for _, m in stats.values()} | {"20"}  # 20: the fast tier's limit
    allowed_params = {p for p, _ in stats.values()}
    for doc in [*DOCS, ROOT / "fer_edge" / "models" / "fer_edge_default.md"]:
        text = doc.read_text()
        for m in re.findall(r"(\d+(?:\.\d+)?) M MACs", text):
            assert m in allowed_macs, f"{doc.name}: {m} M MACs is no recipe's count"
        for p in re.findall(r"(\d{1,3}(?:,\d{3})+) parameters", text):
            assert p in allowed_params, f"{doc.name}: {p} parameters is no recipe's count"


def test_latency_figures_name_the_cpu_features():
    """A CPU named by model alone hides a 13x difference (AVX2 against AVX-512 VNNI)."""
    for doc in DOCS:
        for para in doc.read_text().split("\n\n"):
            if re.search(r"AMD EPYC|Intel Xeon|x86-64 core", para) and re.search(r"\bms\b|frames/s|latency", para):
                assert re.search(r"AVX2|AVX-512|VNNI|NEON|asimddp", para), f"{doc.name}: {para[:120]}"

