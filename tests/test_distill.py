"""Knowledge distillation: soft targets from teachers that see the student's augmented faces."""
import numpy as np
import pytest

pytest.importorskip("keras")

from fer_edge.classifier import bundled_models  # noqa: E402
from fer_edge.labels import ClassSet  # noqa: E402
from fer_edge.metadata import ModelMetadata, read_keras_metadata  # noqa: E402
from fer_edge.preprocessing import Preprocessing  # noqa: E402
from fer_edge.training.augment import Augment  # noqa: E402
from fer_edge.training.data import FaceData  # noqa: E402
from fer_edge.training.distill import CachedTeacher, DistillError, Teachers, load_teachers, mix, soften  # noqa: E402
from fer_edge.training.evaluate import Predictor  # noqa: E402
from fer_edge.training.train import class_weights, make_sequence, train  # noqa: E402

NAMES = ClassSet.parse(None).names


@pytest.mark.runtime
def test_soften_is_softmax_of_logits_over_t():
    logits = np.array([[2.0, 0.5, -1.0, 0.0, 0.3, 1.0, -0.2]])
    p = np.exp(logits) / np.exp(logits).sum()
    assert np.allclose(soften(p, 1.0), p)
    for t in (0.5, 2.0, 4.0):
        z = logits / t
        assert np.allclose(soften(p, t), np.exp(z) / np.exp(z).sum(), atol=1e-6)
    ent = [-(q * np.log(q)).sum() for q in (soften(p, 1), soften(p, 2), soften(p, 4))]
    assert ent[0] < ent[1] < ent[2]  # hotter is flatter
    assert np.allclose(mix(np.eye(7)[[0]], soften(p, 2), 0.7), 0.3 * np.eye(7)[[0]] + 0.7 * soften(p, 2))


def _fake_teacher(size=48):
    """A 'model' whose answer is a known function of the faces it is shown (brightness to class)."""
    meta = ModelMetadata(labels=list(NAMES), preprocessing=Preprocessing(size=size))

    def predict(x):
        assert x.shape[1:] == (size, size) and x.dtype == np.uint8
        k = (x.reshape(len(x), -1).mean(1) / 256 * 7).astype(int)
        return (np.eye(7)[k] * 0.5 + 0.5 / 7).astype(np.float32)
    return Predictor("t/model.keras", "keras", meta, predict)


def test_sequence_targets_come_from_the_augmented_faces_and_weights_from_labels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 48, 48), dtype=np.uint8)
    y = np.arange(20) % 7
    data = FaceData(x, y, tuple(NAMES), [f"f{i}.jpg" for i in range(20)])
    aug = Augment()
    cw = class_weights(y, 7, "sqrt")
    teachers = Teachers([_fake_teacher(), _fake_teacher(size=32)], alpha=0.6, temperature=1.0)
    seq = make_sequence(data, Preprocessing(size=48), 8, aug, seed=3, shuffle=True, class_weight=cw, teachers=teachers)
    seq.epoch = 2
    xb, tb, wb = seq[1]
    idx = np.random.default_rng([3, 2]).permutation(20)[8:16]
    faces = aug(x[idx], np.random.default_rng([3, 2, 1]))
    expect = mix(np.eye(7, dtype=np.float32)[y[idx]], teachers.probs(faces, idx), 0.6)
    assert np.allclose(tb, expect) and np.allclose(tb.sum(1), 1)
    assert np.allclose(wb, [cw[int(c)] for c in y[idx]])
    assert np.allclose(xb[..., 0], faces / 255.0)
    plain = make_sequence(data, Preprocessing(size=48), 8, aug, seed=3, shuffle=True)
    plain.epoch = 2
    xp, tp = plain[1]
    assert np.array_equal(xp, xb) and np.array_equal(tp, np.eye(7)[y[idx]])


def test_teachers_are_checked(tmp_path):
    DEFAULT_MODEL = bundled_models()["fer_edge_default.tflite"]
    with pytest.raises(DistillError, match="no model or teacher cache"):
        load_teachers([tmp_path / "none.keras"], NAMES)
    with pytest.raises(DistillError, match="predicts"):
        load_teachers([DEFAULT_MODEL], ["happy", "sad"])
    with pytest.raises(DistillError, match="--distill"):
        load_teachers([DEFAULT_MODEL], NAMES, alpha=1.5)
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(DistillError, match="--teacher"):
        load_teachers([bad], NAMES)
    t = load_teachers([DEFAULT_MODEL], NAMES, alpha=0.5, temperature=2.0)
    p = t.probs(np.full((2, 48, 48), 128, np.uint8), np.arange(2))
    assert p.shape == (2, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def _cache(path, names, probs, labels=NAMES):
    np.savez(path, train=probs.astype(np.float16), train_names=np.array(names), labels=np.array(labels))
    return path


def test_a_cached_teacher_gives_each_face_its_stored_row_whatever_the_augmentation(tmp_path):
    """The GPU teacher's probabilities (distill.write_teacher_cache) stand in for the teacher, matched by file name."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (20, 48, 48), dtype=np.uint8)
    y = np.arange(20) % 7
    names = [f"c/f{i}.jpg" for i in range(20)]
    stored = rng.dirichlet(np.ones(7), 23).astype(np.float32)
    order = list(reversed(names)) + ["c/other1.jpg", "c/other2.jpg", "c/other3.jpg"]  # another order, extra faces
    path = _cache(tmp_path / "probs.npz", order, stored)
    row_of = {n: stored[i] for i, n in enumerate(order)}
    data = FaceData(x, y, tuple(NAMES), names)
    teachers = load_teachers([path], NAMES, alpha=0.6, temperature=2.0)
    teachers.bind(names)
    seq = make_sequence(data, Preprocessing(size=48), 8, Augment(), seed=3, shuffle=True, teachers=teachers)
    seq.epoch = 2
    _, tb = seq[1]
    idx = np.random.default_rng([3, 2]).permutation(20)[8:16]
    cached = np.stack([row_of[names[i]] for i in idx]).astype(np.float16).astype(np.float32)
    assert np.allclose(tb, mix(np.eye(7, dtype=np.float32)[y[idx]], soften(cached, 2.0), 0.6), atol=1e-6)
    both = Teachers([teachers.predictors[0], _fake_teacher()], alpha=1.0)  # a cache beside a model: their mean
    faces = x[idx]
    assert np.allclose(both.probs(faces, idx), (cached + _fake_teacher().predict(faces)) / 2, atol=1e-6)
    assert teachers.describe()["teachers"] == [f"{tmp_path.name}/probs.npz"]

    with pytest.raises(DistillError, match=r"no probabilities for 1 of the 21 training faces \(e.g. c/new.jpg\)"):
        teachers.bind(names + ["c/new.jpg"])
    with pytest.raises(DistillError, match="predicts"):
        load_teachers([_cache(tmp_path / "four.npz", order, stored[:, :4], NAMES[:4])], NAMES)
    np.savez(tmp_path / "nolabels.npz", train=stored, train_names=np.array(order))
    with pytest.raises(DistillError, match="is not a teacher cache"):
        load_teachers([tmp_path / "nolabels.npz"], NAMES)
    with pytest.raises(DistillError, match="do not match"):
        load_teachers([_cache(tmp_path / "short.npz", order[:5], stored)], NAMES)
    with pytest.raises(RuntimeError, match="bind"):
        CachedTeacher.load(path).predict_rows(np.arange(2))


@pytest.mark.slow
def test_train_distils_from_the_bundled_model_and_records_it(mini_fer, tmp_path):
    from click.testing import CliRunner

    from fer_edge.cli import main

    DEFAULT_MODEL = bundled_models()["fer_edge_default.tflite"]

    s = train("edge-s", mini_fer, tmp_path / "s", epochs=1, limit=40, verbose=0, arch={"width": 0.5},
              teachers=[DEFAULT_MODEL], distill=0.8, temperature=2.0)
    meta = read_keras_metadata(tmp_path / "s" / "model.keras")
    assert meta.training["distillation"] == {"teachers": ["models/fer_edge_default.tflite"], "alpha": 0.8,
                                             "temperature": 2.0}
    assert s["complete"]
    from fer_edge.training.data import load

    cache = _cache(tmp_path / "probs.npz", load(mini_fer, "train").names, np.full((7 * 24, 7), 1 / 7))
    s = train("edge-s", mini_fer, tmp_path / "c", epochs=1, limit=40, verbose=0, arch={"width": 0.5},
              teachers=[cache], distill=0.5)
    assert s["complete"] and read_keras_metadata(tmp_path / "c" / "model.keras").training["distillation"][
        "teachers"] == [f"{tmp_path.name}/probs.npz"]
    r = CliRunner().invoke(main, ["train", "--recipe", "seed-m2", "--data", str(mini_fer), "--out", str(tmp_path / "m"),
                                  "--epochs", "1", "--limit", "28", "--teacher", str(DEFAULT_MODEL)])
    assert r.exit_code != 0 and r.output.startswith("error: --teacher:") and "predicts" in r.output, r.output


def test_teacher_cache_benchmark_measures_what_augmentation_moves(mini_fer, tmp_path):
    """benchmarks/teacher_cache.py: on plain faces a cache made by the teacher agrees with it fully; on augmented
    faces the live teacher's targets move away from the cached ones (that gap is what the cache costs)."""
    import importlib.util
    import json
    from pathlib import Path

    from fer_edge.training.data import load
    from fer_edge.training.evaluate import load_predictor

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("teacher_cache", root / "benchmarks" / "teacher_cache.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    teacher = bundled_models()["fer_edge_default.tflite"]
    d = load(mini_fer, "train")
    cache = _cache(tmp_path / "probs.npz", d.names, load_predictor(teacher).predict(d.x))
    res = bench.main([str(teacher), str(cache), "--data", str(mini_fer), "--faces", "100", "--out", str(tmp_path)])
    plain, aug = res["rows"]["plain"], res["rows"]["augmented"]
    assert plain["top1_agreement"] == 1.0 and plain["kl_live_cached"] < 1e-3  # float16 storage only
    assert plain["live_accuracy"] == plain["cached_accuracy"]
    assert aug["top1_agreement"] < 1.0 and aug["kl_live_cached"] > 10 * plain["kl_live_cached"]
    assert json.loads((tmp_path / "teacher_cache.json").read_text())["faces"] == 100
    assert "| augmented |" in (tmp_path / "teacher_cache.md").read_text()
