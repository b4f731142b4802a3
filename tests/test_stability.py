"""The stability benchmark: its changes are what they say, and its agreement can fall as well as hold."""
from __future__ import annotations

import numpy as np
import pytest

from fer_edge.release.stability import CHANGES, face_stability, markdown, pipeline_stability

pytestmark = pytest.mark.runtime


def test_each_change_is_what_its_name_says():
    f = np.full((48, 48), 100, np.uint8)
    f[20, 20] = 250
    moved = {tuple(np.argwhere(fn(f) == 250)[0]) for fn in CHANGES["shift 1 px"]}
    assert moved == {(20, 21), (20, 19), (21, 20), (19, 20)}
    assert {tuple(np.argwhere(fn(f) == 250)[0]) for fn in CHANGES["shift 2 px"]} == {(20, 22), (20, 18), (22, 20),
                                                                                  (18, 20)}
    assert np.argwhere(CHANGES["mirror"][0](f) == 250).tolist() == [[20, 27]]
    bright, dark = (fn(f) for fn in CHANGES["brightness 15%"])
    assert bright[0, 0] == 115 and dark[0, 0] == 85 and bright[20, 20] == 255  # clipped, not wrapped
    for name in ("zoom 5%", "rotate 5 deg"):
        for fn in CHANGES[name]:
            g = fn(f)
            assert g.shape == f.shape and g.dtype == np.uint8 and not np.array_equal(g, f)


def test_agreement_falls_for_a_model_that_reads_what_the_change_moves():
    rng = np.random.default_rng(0)
    faces = rng.integers(40, 170, (200, 48, 48))  # no clipping at +15%
    for f, side in zip(faces, rng.integers(0, 2, 200)):  # one half clearly brighter
        f[:, 24 * side:24 * side + 24] += 30
    faces = faces.astype(np.uint8)

    def left_or_right(fs):  # answers by which half is brighter: mirroring flips it, brightness does not
        fs = np.stack(fs).astype(np.float32)
        return np.eye(2)[(fs[:, :, :24].mean((1, 2)) > fs[:, :, 24:].mean((1, 2))).astype(int)]

    s = face_stability(left_or_right, faces)
    assert s["mirror"] < 0.02 and s["brightness 15%"] == 1.0 and s["shift 1 px"] == 1.0
    assert set(face_stability(lambda fs: np.eye(3)[[0] * len(fs)], faces).values()) == {1.0}  # a constant holds
    md = markdown([{"model": "m", **s}])
    assert "| m | " in md and f"{100 * s['mirror']:.1f}%" in md


def test_pipeline_stability_places_each_face_and_compares_its_answers(scene_faces):
    from fer_edge import EmotionRecognizer, RecognizerOptions

    faces = np.stack([f for f in scene_faces if f.std() > 20][:6])
    with EmotionRecognizer(RecognizerOptions()) as rec:
        r = pipeline_stability(rec, faces, placements=4)
    assert r["faces"] == 6 and r["placements"] == 24 and r["found"] >= 0.8 and 0.0 <= r["agreement"] <= 1.0


def test_the_default_keeps_its_answer_when_the_face_moves_or_is_mirrored(test_faces):
    """The bundled default averages each face with its mirror image in its one invoke: on 700 test faces it keeps
    its answer for 99.1% of mirrored faces (c6, one view: about 80%) and 90.3% of faces moved by one pixel."""
    from fer_edge import EmotionClassifier

    with EmotionClassifier() as clf:
        s = face_stability(clf.predict_proba, test_faces[0])
    assert s["mirror"] >= 0.98 and s["shift 1 px"] >= 0.89 and s["shift 2 px"] >= 0.88, s
