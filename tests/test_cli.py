"""The fer-edge CLI as a user runs it: output formats, exit codes, one-line errors, and no TensorFlow."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fer_edge import __version__
from fer_edge.cli import main
from fer_edge.release.scenes import make_scene

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "images" / "group.jpg"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory, scene_faces):
    from test_runtime import _detectable

    img, placed = make_scene(_detectable(scene_faces, 2), [0, 1], np.random.default_rng(2), side_range=(120, 170))
    path = tmp_path_factory.mktemp("scene") / "scene.jpg"
    cv2.imwrite(str(path), img)
    return path, placed


@pytest.mark.runtime
def test_version():
    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.output


@pytest.mark.runtime
def test_predict_table_and_json(scene_file):
    path, placed = scene_file
    r = run("predict", path)
    assert r.exit_code == 0, r.output
    rows = r.output.strip().splitlines()
    assert rows[0].startswith("path") and len(rows) == 1 + len(placed)
    r = run("predict", path, "--json")
    assert r.exit_code == 0
    rec = json.loads(r.output.strip().splitlines()[0])
    assert rec["path"] == str(path) and len(rec["faces"]) == len(placed)
    f = rec["faces"][0]
    assert set(f) >= {"box", "detection_score", "emotion", "emotion_score", "probabilities"} and len(f["probabilities"]) == 7
    assert "score" not in f  # one meaning per name: the 0.1 key for the detection score went in 0.3
    assert abs(sum(f["probabilities"].values()) - 1) < 0.05


@pytest.mark.runtime
def test_example_image_in_the_readme_works():
    r = run("predict", EXAMPLE, "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["faces"]) >= 2


@pytest.mark.runtime
def test_annotate_writes_images(scene_file, tmp_path):
    path, _ = scene_file
    r = run("predict", path, "--annotate", tmp_path / "ann")
    assert r.exit_code == 0
    out = cv2.imread(str(tmp_path / "ann" / "scene.jpg"))
    src = cv2.imread(str(path))
    assert out.shape == src.shape and np.abs(out.astype(int) - src).sum() > 0


@pytest.mark.runtime
def test_bad_inputs_are_reported_and_good_ones_kept(scene_file, tmp_path):
    path, placed = scene_file
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    r = CliRunner().invoke(main, ["predict", str(empty), str(path), str(text), str(tmp_path / "missing.jpg"), "--json"])
    assert r.exit_code == 1
    out = [json.loads(line) for line in r.stdout.strip().splitlines()]
    # every input has its JSON line, in order: a JSON-lines consumer loses track of none
    assert [o["path"] for o in out] == [str(empty), str(path), str(text), str(tmp_path / "missing.jpg")]
    assert len(out[1]["faces"]) == len(placed) and "error" not in out[1]
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("error: ") for e in errors[:3])
    assert "empty file" in errors[0] and "not a readable image" in errors[1] and "no such file" in errors[2]
    assert [f"error: {o['error']}" for o in out if "error" in o] == errors[:3]
    r = CliRunner().invoke(main, ["predict", str(empty), str(text)])
    assert r.exit_code == 1 and r.stdout == ""  # no table header without a row under it
    assert "Traceback" not in r.output


@pytest.mark.runtime
def test_bad_model_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"garbage" * 10)
    r = run("predict", EXAMPLE, "--model", bad)
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "bad.tflite" in r.output and "TFL3" in r.output
    r = run("predict", EXAMPLE, "--model", tmp_path / "none.tflite")
    assert r.exit_code == 2 and "does not exist" in r.output


@pytest.mark.runtime
def test_models_lists_bundled_with_metadata():
    r = run("models", "--json")
    assert r.exit_code == 0
    rows = json.loads(r.output)
    default = [m for m in rows if m["default"]]
    assert len(default) == 1 and default[0]["format"] == "int8" and len(default[0]["labels"]) == 7


@pytest.mark.runtime
def test_tiers_are_model_names_in_every_verb_and_a_missing_tier_is_one_line(tmp_path, monkeypatch):
    import shutil

    from fer_edge import classifier as C
    from fer_edge.training.tflite_metadata import record_metrics

    default = C.bundled_models()[C.DEFAULT_MODEL]
    assert C.resolve_model("default") == C.resolve_model(None) == default
    shipped = tmp_path / "models"
    shipped.mkdir()
    shutil.copy(default, shipped / C.DEFAULT_MODEL)
    monkeypatch.setattr(C, "bundled_models", lambda: {p.name: p for p in shipped.glob("*.tflite")})
    with pytest.raises(C.ModelError, match=r"tier 'fast' is not bundled in this install \(tiers here: default\)"):
        C.resolve_model("fast")
    r = run("predict", EXAMPLE, "--model", "accurate")
    assert r.exit_code != 0 and r.output.count("\n") == 1 and "tier 'accurate' is not bundled" in r.output
    shutil.copy(default, shipped / C.TIERS["fast"])
    record_metrics(shipped / C.TIERS["fast"], {"leak_free_test_accuracy": 0.6512, "macs": 18_912_000,
                                               "latency_vs_fer": 1.31})
    assert C.resolve_model("fast") == shipped / "fer_edge_fast.tflite"
    r = run("predict", EXAMPLE, "--model", "fast", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["faces"]
    lines = run("models").output.splitlines()
    assert len(lines) == 2 and lines[1].startswith("fer_edge_fast.tflite (tier fast): int8")
    assert ("leak-free test 0.6512, 18.9 M MACs, latency vs the fer model 1.31x on AMD EPYC (avx2 avx512f "
            "avx512_vnni), 1.92x on Intel(R) Xeon(R) Processor") in lines[1]  # every CPU's own ratio, cheapest first
    assert "3.30-3.97x on AVX2-only x86 (avx2)" in lines[1]
    rows = json.loads(run("models", "--json").output)
    assert [(m["name"], m["tier"], m["default"]) for m in rows] == [("fer_edge_default.tflite", "default", True),
                                                                     ("fer_edge_fast.tflite", "fast", False)]


@pytest.mark.runtime
def test_runtime_never_imports_tensorflow():
    """import fer_edge and a full `fer-edge predict` run with TensorFlow and Keras made unimportable."""
    code = r"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'tensorflow_model_optimization'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import fer_edge, fer_edge.recognizer, fer_edge.classifier, fer_edge.cli
from fer_edge.cli import main
try:
    main(['predict', sys.argv[1], '--json'])
except SystemExit as e:
    assert e.code in (0, None), e.code
bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]
assert not bad, bad
print('no-tf-ok')
"""
    # from the home folder: `python -c` puts its working folder first, and the installed package is the one to test
    p = subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], capture_output=True, text=True, timeout=120,
                       cwd=Path.home())
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().endswith("no-tf-ok") and '"faces"' in p.stdout


def test_training_verbs_without_data_fail_cleanly(tmp_path):
    r = run("evaluate", tmp_path / "m.keras", "--data", tmp_path / "nodata")
    assert r.exit_code == 2 and r.output.startswith("error: ") and r.output.count("\n") == 1
    r = run("convert", tmp_path / "m.keras", "--int8")
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run("convert", EXAMPLE, "--int8")
    assert r.exit_code == 2 and "expected a .keras" in r.output
    r = run("train", "--recipe", "edge-x", "--data", tmp_path, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "unknown recipe 'edge-x'" in r.output and "did you mean" in r.output


@pytest.mark.runtime
def test_predict_on_a_video_gives_one_record_per_frame(scene_file, tmp_path):
    path, placed = scene_file
    img = cv2.imread(str(path))
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (img.shape[1], img.shape[0]))
    for i in range(6):
        w.write(np.roll(img, 2 * i, axis=1))
    w.release()
    r = run("predict", video, "--json")
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in r.output.strip().splitlines()]
    assert [x["frame"] for x in recs] == list(range(6))
    assert all(len(x["faces"]) == len(placed) for x in recs)
    assert {f["track_id"] for x in recs for f in x["faces"]} == set(range(len(placed)))
    r = run("predict", video, "--max-frames", "2", "--json")
    assert len(r.output.strip().splitlines()) == 2
