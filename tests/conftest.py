"""Shared fixtures: real FER2013 faces from ../shared (a fixed small subset), scenes, a small trained model."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WORKSTATION_PACKAGES = {"tensorflow", "keras", "tf_keras", "tensorflow_model_optimization", "sklearn", "matplotlib",
                        "keras_tuner"}


class _BlockWorkstation:
    """With FER_EDGE_RUNTIME_ONLY=1, importing TensorFlow & co. fails, as on a device: `-m runtime` must pass so."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in WORKSTATION_PACKAGES:
            raise ModuleNotFoundError(f"{name} is blocked: FER_EDGE_RUNTIME_ONLY=1 (a device install has no {name})",
                                      name=name)


if os.environ.get("FER_EDGE_RUNTIME_ONLY") == "1":
    import sys

    sys.meta_path.insert(0, _BlockWorkstation())

ROOT = Path(__file__).resolve().parents[1]

# One hypothesis profile for every property test: derandomised (the same examples on every run and machine), as
# many examples as FER_EDGE_FUZZ_EXAMPLES says (150), no deadline (emulated aarch64 is ~50x slower).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("fer-edge", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          max_examples=int(os.environ.get("FER_EDGE_FUZZ_EXAMPLES", "150")))
settings.load_profile("fer-edge")
sys.path.append(str(ROOT / "tools"))  # the repository's helpers (outside the wheel) are tested here too: device_job
RESULTS = str(ROOT / "results") + os.sep


def _no_results_reads(event, args):
    """Tests build their models or take them from tests/fixtures: reading results/ (what the project measured)
    would tie a test to one checkout's history. Enforced for every file the test process opens."""
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if os.path.abspath(path).startswith(RESULTS) and "r" in str(args[1] or "r") and "+" not in str(args[1] or ""):
            raise PermissionError(f"tests do not read results/ (use tests/fixtures or build it): {path}")


sys.addaudithook(_no_results_reads)
FER = Path(os.environ.get("FER2013_ROOT", ROOT.parent / "shared" / "datasets" / "fer2013"))
CLASSES_ALPHA = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def needs_fer():
    return pytest.mark.skipif(not FER.is_dir(), reason=f"FER2013 folders not found at {FER}")


@pytest.fixture(scope="session")
def fer_root() -> Path:
    if not FER.is_dir():
        pytest.skip(f"FER2013 folders not found at {FER}")
    return FER


def _pick(root: Path, split: str, per_class: int) -> dict[str, list[Path]]:
    return {c: sorted((root / split / c).iterdir())[:per_class] for c in CLASSES_ALPHA}


@pytest.fixture(scope="session")
def mini_fer(fer_root, tmp_path_factory) -> Path:
    """A copy of the first N images per class of each split: train 24, val 8, test 8 per class."""
    out = tmp_path_factory.mktemp("mini_fer")
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        for c, files in _pick(fer_root, split, n).items():
            (out / split / c).mkdir(parents=True)
            for f in files:
                shutil.copy(f, out / split / c / f.name)
    return out


@pytest.fixture(scope="session")
def test_faces(fer_root):
    """A fixed 700-face stratified subset of test/ as (uint8 faces, labels in CSV order)."""
    from fer_edge.training.data import load, stratified_indices

    d = load(fer_root, "test")
    idx = stratified_indices(d.y, 700, seed=0)
    return d.x[idx], d.y[idx]


@pytest.fixture(scope="session")
def scene_faces(fer_root):
    """200 FER2013 test faces (fixed) for synthetic scenes."""
    files = sorted((fer_root / "test").glob("*/*.jpg"))
    rng = np.random.default_rng(7)
    pick = rng.choice(len(files), 200, replace=False)
    return [cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE) for i in pick]


@pytest.fixture(scope="session")
def parent_model() -> Path:
    """A real trained float model committed for the tests: edge-s after 25 epochs (63.4% on test/), the float
    parent the converter tests' thresholds were measured on."""
    p = ROOT / "tests" / "fixtures" / "edge-s" / "model.keras"
    if not p.exists():
        pytest.skip("tests/fixtures/edge-s/model.keras is not in this checkout")
    return p


@pytest.fixture(scope="session")
def standin_lib(tmp_path_factory):
    """The stand-in libedgetpu (tests/standins/edgetpu_standin.c), built once per session."""
    import shutil
    import subprocess

    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the stand-in Edge TPU library")
    out = tmp_path_factory.mktemp("edgetpu") / "libedgetpu_standin.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(ROOT / "tests" / "standins" / "edgetpu_standin.c")], check=True)
    return out


@pytest.fixture
def broker(tmp_path):
    """A real Mosquitto broker on a free loopback port (Debian's `mosquitto`; .ci/run installs it)."""
    from brokers import MOSQUITTO, Broker

    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install mosquitto; .ci/run does it)")
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()
