"""Epoch-ahead feed, mixup and the weight average: deterministic per (seed, epoch), exact arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from fer_edge.preprocessing import Preprocessing
from fer_edge.training.augment import Augment
from fer_edge.training.feed import EpochFeed, Mixup, build_epoch

SPEC = Preprocessing(size=48, color="grayscale")


def _faces(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n)


@pytest.mark.runtime
def test_an_epoch_is_the_same_for_the_same_seed_and_epoch_and_differs_otherwise():
    x, y = _faces()
    kw = dict(augment=Augment(erase=0.5), class_weights=np.linspace(0.5, 2, 7, dtype=np.float32), chunk=16)
    a, b = build_epoch(x, y, 7, SPEC, 3, 0, **kw), build_epoch(x, y, 7, SPEC, 3, 0, **kw)
    c = build_epoch(x, y, 7, SPEC, 4, 0, **kw)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.targets, b.targets) and np.array_equal(a.weights, b.weights)
    assert not np.array_equal(a.targets, c.targets)
    assert a.x.shape == (40, 48, 48, 1) and a.x.dtype == np.float32
    labels = a.targets.argmax(1)  # one-hot: the shuffled labels, weighted by class
    assert sorted(labels.tolist()) == sorted(y.tolist())
    assert np.allclose(a.weights, np.linspace(0.5, 2, 7)[labels])
    plain = build_epoch(x, y, 7, SPEC, 0, 0, shuffle=False)
    assert np.array_equal(plain.targets.argmax(1), y) and plain.weights is None


@pytest.mark.runtime
def test_mixup_blends_faces_targets_and_weights_with_the_face_keeping_the_larger_share():
    rng = np.random.default_rng(1)
    x = rng.random((200, 4, 4, 1)).astype(np.float32)
    t = np.eye(7, dtype=np.float32)[rng.integers(0, 7, 200)]
    w = rng.random(200).astype(np.float32) + 0.5
    mx, mt, mw = Mixup(alpha=0.4, prob=0.5)(x, t, w, np.random.default_rng(2))
    assert np.allclose(mt.sum(1), 1.0, atol=1e-6)
    own = (mt * t).sum(1)  # the share of each face's own label
    assert (own >= 0.5 - 1e-6).all()
    untouched = (mx == x).all(axis=(1, 2, 3))
    assert 0.35 < 1 - untouched.mean() < 0.65  # about ``prob`` of the faces are blended
    assert (mt[untouched] == t[untouched]).all() and (mw[untouched] == w[untouched]).all()
    assert np.all((mw >= w.min() - 1e-6) & (mw <= w.max() + 1e-6))


def test_feed_prefetches_the_next_epoch_and_returns_what_build_epoch_returns():
    x, y = _faces()
    made = []

    def make(e):
        made.append(e)
        return build_epoch(x, y, 7, SPEC, e, 5, augment=Augment())

    feed = EpochFeed(make, last_epoch=3)
    e0 = feed[0]
    e1 = feed[1]  # built in the background while epoch 0 "trained"
    assert made[:2] == [0, 1] and np.array_equal(e1.x, build_epoch(x, y, 7, SPEC, 1, 5, augment=Augment()).x)
    assert not np.array_equal(e0.x, e1.x)
    feed[2]
    feed.close()
    assert made == [0, 1, 2]  # nothing built past the last epoch

    def broken(e):
        if e == 1:
            raise RuntimeError("augmentation failed")
        return make(e)

    feed = EpochFeed(broken, last_epoch=3)
    feed[0]
    with pytest.raises(RuntimeError, match="augmentation failed"):
        feed[1]


def test_weight_average_follows_its_formula_and_swaps_back():
    import keras

    from fer_edge.training.ema import WeightAverage

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    w0 = [w.copy() for w in model.get_weights()]
    avg = WeightAverage(model, decay=0.9)
    w1 = [w + 1.0 for w in w0]
    model.set_weights(w1)
    avg.update()  # step 0: d = min(0.9, 1/10) = 0.1
    assert all(np.allclose(s, 0.1 * a + 0.9 * b) for s, a, b in zip(avg.shadow, w0, w1))
    avg.update()  # step 1: d = 2/11
    d = 2 / 11
    assert all(np.allclose(s, d * (0.1 * a + 0.9 * b) + (1 - d) * b) for s, a, b in zip(avg.shadow, w0, w1))
    with avg.swapped_in() as m:
        assert all(np.allclose(v, s) for v, s in zip(m.get_weights(), avg.shadow))
    assert all(np.array_equal(v, b) for v, b in zip(model.get_weights(), w1))
    other = WeightAverage(model, decay=0.9)
    other.load_state(avg.state())
    assert other.steps == 2 and all(np.array_equal(a, b) for a, b in zip(other.shadow, avg.shadow))
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


@pytest.mark.runtime
def test_an_epoch_built_by_several_threads_is_the_same(monkeypatch):
    x, y = _faces(n=100)
    kw = dict(augment=Augment(erase=0.5), chunk=16)
    monkeypatch.setenv("FER_EDGE_FEED_WORKERS", "1")
    one = build_epoch(x, y, 7, SPEC, 2, 0, **kw)
    monkeypatch.setenv("FER_EDGE_FEED_WORKERS", "3")
    three = build_epoch(x, y, 7, SPEC, 2, 0, **kw)
    assert np.array_equal(one.x, three.x) and np.array_equal(one.targets, three.targets)
