"""Consistency training (fer_edge.training.consistency): the partner view is a small move of the face, the loss
is zero extra for agreeing views and grows as they part, and a run trains, resumes and saves the single-view net."""
import json

import numpy as np
import pytest

pytest.importorskip("keras")

from fer_edge.training.consistency import JITTER_PX, jittered, pair_loss  # noqa: E402


def test_the_partner_is_the_face_moved_a_pixel_or_two():
    yy, xx = np.mgrid[0:48, 0:48]
    ramp = (4 * xx + yy).astype(np.uint8)  # a move of (dx, dy) changes the level by 4 dx + dy, never 0
    faces = np.repeat(ramp[None], 200, axis=0)
    part = jittered(faces, np.random.default_rng(1))
    assert part.shape == faces.shape and part.dtype == np.uint8
    moved = np.abs(part.astype(int) - faces.astype(int))[:, 8:40, 8:40].mean(axis=(1, 2))
    assert (moved > 0.5).all()  # never the same crop
    assert moved.max() < 4 * JITTER_PX + JITTER_PX + 4  # a couple of pixels and at most a 5% zoom, no more
    assert len({round(float(m), 1) for m in moved}) > 10  # moves of every kind
    again = jittered(faces, np.random.default_rng(1))
    assert np.array_equal(part, again)  # drawn from its generator only



def test_a_mirror_share_of_partners_is_mirrored_and_none_without_it():
    """consistency_mirror: about that share of the copies is the moved face mirrored; 0 gives the very copies the
    generator gave before the option existed (a resumed run's epochs do not change)."""
    yy, xx = np.mgrid[0:48, 0:48]
    gains = np.random.default_rng(3).uniform(0.5, 1.0, 400)
    faces = np.stack([g * (4 * xx + yy) for g in gains]).astype(np.uint8)  # mirrored, a face is far from itself
    plain = jittered(faces, np.random.default_rng(5))
    assert np.array_equal(jittered(faces, np.random.default_rng(5), 0.0), plain)
    mixed = jittered(faces, np.random.default_rng(5), 0.5)

    def near(a, b):  # the copy matches the face moved a pixel or two better than anything else does
        return np.abs(a[8:40, 8:40].astype(int) - b[8:40, 8:40].astype(int)).mean()
    flipped = [near(m, f[:, ::-1]) < near(m, f) for m, f in zip(mixed, faces)]
    assert 0.4 < np.mean(flipped) < 0.6
    assert all(near(p, f) < near(p, f[:, ::-1]) for p, f in zip(plain, faces))


def test_consistency_mirror_needs_consistency(tmp_path):
    from click.testing import CliRunner

    from fer_edge.release.cli import train

    r = CliRunner().invoke(train, ["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--consistency-mirror",
                                   "0.5"])
    assert r.exit_code != 0 and "--consistency-mirror needs --consistency" in r.output
    assert r.output.count("\n") == 1

def test_pair_loss_adds_nothing_for_agreeing_views_and_grows_as_they_part():
    import keras

    y = np.eye(3, dtype=np.float32)[[0, 1]]
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2]], np.float32)
    q = np.array([[0.2, 0.7, 0.1], [0.6, 0.2, 0.2]], np.float32)
    plain = keras.losses.categorical_crossentropy(y, p).numpy()
    same = pair_loss(3, 2.0)(y, np.concatenate([p, p], 1)).numpy()
    assert np.allclose(same, plain, atol=1e-5)
    apart0 = pair_loss(3, 0.0)(y, np.concatenate([p, q], 1)).numpy()
    apart2 = pair_loss(3, 2.0)(y, np.concatenate([p, q], 1)).numpy()
    kl = np.sum((p - q) * (np.log(p) - np.log(q)), 1)
    assert np.allclose(apart2 - apart0, 2.0 * kl, atol=1e-4) and (kl > 0.5).all()


def test_a_consistency_run_trains_resumes_and_saves_the_single_view_net(mini_fer, tmp_path):
    from fer_edge.training.evaluate import load_predictor
    from fer_edge.training.train import train

    kw = dict(epochs=2, limit=40, verbose=0, arch={"width": 0.5}, ema=0.9, consistency=1.0, batch_size=8,
              consistency_mirror=0.5)
    train("edge-s", mini_fer, tmp_path / "a", stop_after=1, **kw)
    s = train("edge-s", mini_fer, tmp_path / "a", resume=True, **kw)
    straight = train("edge-s", mini_fer, tmp_path / "b", **kw)
    assert s["complete"] and s["consistency"] == 1.0 and s["epochs_run"] == 2
    a, b = (load_predictor(tmp_path / r / "model.keras") for r in ("a", "b"))
    assert a.model.input_shape == (None, 48, 48, 1)  # the net, not the pair model
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        assert np.allclose(wa, wb, atol=1e-5)  # resuming after epoch 1 trains what one call trains
    hist = (tmp_path / "a" / "history.csv").read_text().splitlines()
    assert len(hist) == 3 and "val_accuracy" in hist[0]
    summary = json.loads((tmp_path / "a" / "train.json").read_text())
    assert summary["consistency"] == 1.0 and summary["consistency_mirror"] == 0.5
