"""The campaign runner: plan order, resume across calls, budget, lost checkpoints, the results table."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fer_edge.training import campaign as camp


def _plan(tmp_path, runs, data):
    (tmp_path / "results").mkdir(exist_ok=True)
    plan = tmp_path / "results" / "plan.json"
    plan.write_text(json.dumps({"data": str(data), "results_md": "README.md", "runs": runs}))
    (tmp_path / "results" / "README.md").write_text("# Runs\n\nhand-written text stays.\n")
    return plan


class FakeTrain:
    """Stands in for train(): 'trains' one epoch per call step, stops at ``stop_at`` like a deadline would."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at or {}

    def __call__(self, recipe, data, out, *, resume, deadline, epochs, **kw):
        self.calls.append({"recipe": recipe, "resume": resume, "kw": kw})
        out.mkdir(parents=True, exist_ok=True)
        hist = out / "history.csv"
        done = len(hist.read_text().splitlines()) - 1 if hist.exists() else 0
        target = min(epochs, self.stop_at.get(out.name, epochs))
        lines = hist.read_text().splitlines() if hist.exists() else ["epoch,val_accuracy"]
        lines += [f"{e},0.5" for e in range(done, target)]
        hist.write_text("\n".join(lines) + "\n")
        complete = target >= epochs
        (out / "backup").mkdir(exist_ok=True)
        if complete:
            (out / "backup" / "checkpoint.npz").unlink(missing_ok=True)
        else:
            (out / "backup" / "checkpoint.npz").write_bytes(b"x")
        return {"epochs_run": target, "epochs": epochs, "complete": complete, "backend": "fake",
                **({"fit_val": True} if kw.get("fit_val") else {})}


def test_runs_resume_in_plan_order_and_the_table_records_each_segment(tmp_path):
    plan = _plan(tmp_path, [{"name": "a", "recipe": "edge-s", "args": {"epochs": 5}, "purpose": "first"},
                            {"name": "b", "recipe": "edge-xs", "args": {"epochs": 2, "seed": 3}, "purpose": "second"}],
                 tmp_path)
    fake = FakeTrain(stop_at={"a": 3})
    segs = camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None)
    assert [(s["epochs_from"], s["epochs_to"], s["complete"]) for s in segs] == [(0, 3, False)]
    assert fake.calls[0]["resume"] is False
    md = (tmp_path / "results" / "README.md").read_text()
    assert "hand-written text stays." in md
    assert "| a |" in md and "0 -> 3 of 5" in md and "stopped at 3 of 5 (budget); resumes" in md
    assert "| b | - | edge-xs epochs=2, seed=3 | not started" in md
    assert "![val accuracy by epoch](progress.png)" in md  # from run a's checkpoint folder while it trains
    assert (tmp_path / "results" / "progress.png").read_bytes()[:4] == b"\x89PNG"

    fake.stop_at = {}
    segs = camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None)
    assert [(s["epochs_from"], s["epochs_to"], s["complete"]) for s in segs] == [(3, 5, True), (0, 2, True)]
    assert fake.calls[1]["resume"] is True and fake.calls[2]["kw"] == {"seed": 3}
    ledger = json.loads((tmp_path / "results" / "ledger.json").read_text())
    assert ledger["runs"]["a"]["epochs_done"] == 5 and len(ledger["runs"]["a"]["segments"]) == 2
    md = (tmp_path / "results" / "README.md").read_text()
    assert md.count(camp.TABLE_BEGIN) == 1 and md.count("| a |") == 2 and "3 -> 5 of 5" in md
    assert camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake,
                             log=lambda m: None) == []  # all complete: nothing runs
    assert len(fake.calls) == 3


def test_a_train_and_val_run_says_its_val_columns_are_not_held_out(tmp_path):
    plan = _plan(tmp_path, [{"name": "r", "recipe": "edge-s", "args": {"epochs": 2, "fit_val": True}}], tmp_path)
    fake = FakeTrain(stop_at={"r": 1})
    for _ in range(2):
        camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake,
                          log=lambda m: None)
        fake.stop_at = {}
    assert fake.calls[0]["kw"] == {"fit_val": True}
    md = (tmp_path / "results" / "README.md").read_text()
    assert md.count("val/ is trained on (fit_val): its val columns are not held-out scores") == 2


def test_a_lost_checkpoint_restarts_the_run_and_says_so(tmp_path):
    import shutil

    plan = _plan(tmp_path, [{"name": "a", "recipe": "edge-s", "args": {"epochs": 6}}], tmp_path)
    fake = FakeTrain(stop_at={"a": 2})
    camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None)
    shutil.rmtree(tmp_path / "runs" / "a")  # a new machine: the ignored checkpoint folder is gone,
    shutil.rmtree(tmp_path / "results" / "a" / "resume")  # and the resume state was never committed
    fake.stop_at = {"a": 4}
    seg, = camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake,
                             log=lambda m: None)
    assert fake.calls[-1]["resume"] is False and (seg["epochs_from"], seg["epochs_to"]) == (0, 4)
    assert "checkpoint lost after 2 epochs: restarted from epoch 0" in (tmp_path / "results" / "README.md").read_text()

    shutil.rmtree(tmp_path / "runs" / "a")  # a new machine again, whose runner was stopped before recording
    shutil.rmtree(tmp_path / "results" / "a" / "resume")
    fake.stop_at = {"a": 1}
    fake("edge-s", tmp_path, tmp_path / "runs" / "a", resume=False, deadline=0, epochs=6)
    fake.stop_at = {}
    seg, = camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake,
                             log=lambda m: None)
    assert (seg["epochs_from"], seg["epochs_to"]) == (1, 6) and seg["complete"]
    assert seg["note"] == "checkpoint lost after 4 epochs: restarted from epoch 0, this checkpoint holds 1 of them; "


def test_one_run_trains_beside_the_plan_runner_and_the_ledger_keeps_both(tmp_path):
    plan = _plan(tmp_path, [{"name": "a", "recipe": "edge-s", "args": {"epochs": 4}},
                            {"name": "b", "recipe": "edge-xs", "args": {"epochs": 2}},
                            {"name": "g", "recipe": "edge-s", "args": {"epochs": 2}, "device": "gpu"}], tmp_path)
    runs, fake = tmp_path / "runs", FakeTrain(stop_at={"a": 1})
    runs.mkdir()
    seg, = camp.run_campaign(plan, runs_dir=runs, budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None,
                             only="b")  # b alone, though a comes first
    assert seg["complete"] and [c["recipe"] for c in fake.calls] == ["edge-xs"] and not (runs / "b.lock").exists()
    (runs / "a.lock").write_text(str(os.getpid()))  # a runner (this live process) is training a
    with pytest.raises(camp.CampaignError, match="run a is being trained by another runner"):
        camp.run_campaign(plan, runs_dir=runs, budget_s=3600, reserve_s=0, train_fn=fake, only="a")
    assert camp.run_campaign(plan, runs_dir=runs, budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None) == []
    (runs / "a.lock").write_text("999999999")  # left by a process that is gone: no holder
    seg, = camp.run_campaign(plan, runs_dir=runs, budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None)
    assert (seg["epochs_to"], seg["complete"]) == (1, False)
    ledger = json.loads((tmp_path / "results" / "ledger.json").read_text())
    assert ledger["runs"]["b"]["complete"] and ledger["runs"]["a"]["epochs_done"] == 1
    with pytest.raises(camp.CampaignError, match="run b is already complete"):
        camp.run_campaign(plan, runs_dir=runs, budget_s=3600, train_fn=fake, only="b")
    with pytest.raises(camp.CampaignError, match="planned for a GPU machine"):
        camp.run_campaign(plan, runs_dir=runs, budget_s=3600, train_fn=fake, only="g")
    with pytest.raises(camp.CampaignError, match="no run 'zz'"):
        camp.run_campaign(plan, runs_dir=runs, budget_s=3600, train_fn=fake, only="zz")


def test_a_ledger_write_keeps_what_another_runner_wrote_since_it_read(tmp_path):
    plan = _plan(tmp_path, [{"name": "a", "recipe": "edge-s"}, {"name": "b", "recipe": "edge-s"}], tmp_path)
    c = camp.Campaign.load(plan)
    stale = c.ledger()  # read by one runner...
    c.save_run("a", {"epochs_done": 3})  # ...while another records its run
    stale["runs"]["b"] = {"epochs_done": 1}
    merged = c.save_run("b", stale["runs"]["b"])
    assert merged["runs"] == {"a": {"epochs_done": 3}, "b": {"epochs_done": 1}} == c.ledger()["runs"]


def test_budget_and_lock_and_bad_plans(tmp_path):
    plan = _plan(tmp_path, [{"name": "a", "recipe": "edge-s", "args": {"epochs": 2}}], tmp_path)
    fake = FakeTrain()
    assert camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=100, reserve_s=300, train_fn=fake,
                             log=lambda m: None) == [] and not fake.calls
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "campaign.lock").write_text(str(os.getpid()))  # this very process: alive
    with pytest.raises(camp.CampaignError, match="another campaign runner"):
        camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, train_fn=fake)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": [{"name": "x", "recipe": "edge-q"}]}))
    with pytest.raises(camp.CampaignError, match="unknown recipe 'edge-q'"):
        camp.Campaign.load(bad)
    bad.write_text(json.dumps({"runs": [{"name": "x", "recipe": "edge-s"}, {"name": "x", "recipe": "edge-s"}]}))
    with pytest.raises(camp.CampaignError, match="repeat"):
        camp.Campaign.load(bad)
    bad.write_text("{not json")
    with pytest.raises(camp.CampaignError, match="not a campaign plan"):
        camp.Campaign.load(bad)
    with pytest.raises(camp.CampaignError, match="no campaign plan"):
        camp.Campaign.load(tmp_path / "missing.json")


@pytest.mark.runtime
def test_leak_free_mask_marks_pixel_copies():
    rng = np.random.default_rng(0)
    test = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    train = np.concatenate([test[[1]], rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)])
    val = test[[4]].copy()
    assert camp.leak_free_mask(test, train, val).tolist() == [True, False, True, True, False]


def test_cli_requires_a_budget(tmp_path):
    from click.testing import CliRunner

    from fer_edge.cli import main

    plan = str(_plan(tmp_path, [{"name": "c1-edge-s-e120", "recipe": "edge-s", "args": {"epochs": 3},
                                 "purpose": "a row"}], tmp_path))
    res = CliRunner().invoke(main, ["campaign", "--plan", plan])
    assert res.exit_code == 2 and "--budget-minutes is required" in res.output
    res = CliRunner().invoke(main, ["campaign", "--status", "--plan", plan])
    assert res.exit_code == 0 and "| c1-edge-s-e120 |" in res.output


class FakeScorer:
    def __init__(self, data, classes):
        self.classes = classes

    def score(self, model_path):
        if "ema" in Path(model_path).name:
            return {"val": 0.64, "test": 0.655, "leak_free_test": 0.645, "leak_free_n": 3000}
        return {"val": 0.61, "test": 0.62, "leak_free_test": 0.6, "leak_free_n": 3000}


def _device_run(folder, recipe="edge-s", epochs=3, complete=True):
    folder.mkdir(parents=True)
    (folder / "train.json").write_text(json.dumps({
        "recipe": recipe, "epochs": epochs, "epochs_run": epochs if complete else 1, "complete": complete,
        "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"], "seconds_this_call": 720.0,
        "backend": "jax", "machine": "Xeon, 16 cores"}))
    (folder / "best.json").write_text(json.dumps({"epoch": 2, "val_accuracy": 0.61}))
    (folder / "history.csv").write_text("epoch,val_accuracy\n0,0.4\n1,0.5\n2,0.61\n")
    (folder / "model.keras").write_bytes(b"m" * 50)
    return folder


def test_gpu_runs_are_recorded_from_their_folder_and_skipped_by_the_runner(tmp_path, monkeypatch):
    monkeypatch.setattr(camp, "Scorer", FakeScorer)
    monkeypatch.setattr(camp, "KEEP_MAX_BYTES", 100)
    monkeypatch.setenv("FER_EDGE_CAMPAIGN_DIR", str(tmp_path / "runs"))
    plan = _plan(tmp_path, [{"name": "g", "recipe": "edge-s", "args": {"epochs": 3}, "device": "gpu"},
                            {"name": "c", "recipe": "edge-xs", "args": {"epochs": 2}}], tmp_path)
    fake = FakeTrain()
    camp.run_campaign(plan, runs_dir=tmp_path / "runs", budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None)
    assert [c["recipe"] for c in fake.calls] == ["edge-xs"]  # the GPU run is never trained by the CPU runner

    run = _device_run(tmp_path / "device" / "g-run")
    (run / "model_ema.keras").write_bytes(b"e" * 200)  # over the (patched) size kept in the repository
    (run / "best_ema.json").write_text(json.dumps({"epoch": 1, "val_accuracy": 0.5}))
    seg = camp.record_run("g", run, plan_path=plan, data=tmp_path, hours=0.21, note="H200, JAX bf16", log=lambda m: None)
    assert seg["complete"] and (seg["epochs_from"], seg["epochs_to"], seg["hours"]) == (0, 3, 0.21)
    assert seg["best"] == {"epoch": 2, "val_accuracy": 0.61, "val": 0.61, "test": 0.62, "leak_free_test": 0.6,
                           "leak_free_n": 3000}
    assert seg["note"].startswith(f"H200, JAX bf16; recorded from {run}; model_ema.keras too big to commit, left in ")
    assert seg["machine"] == "Xeon, 16 cores, jax backend"  # where it trained, not where it was recorded
    kept = tmp_path / "results" / "g"
    assert (kept / "model.keras").read_bytes() == b"m" * 50 and not (kept / "model_ema.keras").exists()
    assert (kept / "history.png").stat().st_size > 1000
    ledger = json.loads((tmp_path / "results" / "ledger.json").read_text())
    assert ledger["runs"]["g"]["complete"] and ledger["runs"]["c"]["complete"]
    md = (tmp_path / "results" / "README.md").read_text()
    assert "| g |" in md
    assert "H200, JAX bf16; recorded from" in md and "; complete |" in md

    with pytest.raises(camp.CampaignError, match="already complete"):
        camp.record_run("g", run, plan_path=plan, data=tmp_path)
    with pytest.raises(camp.CampaignError, match="no run 'x'"):
        camp.record_run("x", run, plan_path=plan, data=tmp_path)
    plan = _plan(tmp_path, [{"name": "h", "recipe": "edge-m", "args": {"epochs": 3}, "device": "gpu"}], tmp_path)
    with pytest.raises(camp.CampaignError, match="trained recipe 'edge-s'; run h plans 'edge-m'"):
        camp.record_run("h", run, plan_path=plan, data=tmp_path)
    plan = _plan(tmp_path, [{"name": "h", "recipe": "edge-s", "args": {"epochs": 9}, "device": "gpu"}], tmp_path)
    with pytest.raises(camp.CampaignError, match="epochs=3; run h plans 9"):
        camp.record_run("h", run, plan_path=plan, data=tmp_path)
    (run / "model.keras").rename(run / "plain.keras")
    (run / "model_ema.keras").rename(run / "ema.keras")
    with pytest.raises(camp.CampaignError, match="no model.keras or model_ema.keras in it"):
        camp.record_run("h", run, plan_path=plan, data=tmp_path)
    (run / "plain.keras").rename(run / "model.keras")
    (run / "best.json").unlink()
    with pytest.raises(camp.CampaignError, match="not a finished run folder: no best.json"):
        camp.record_run("h", run, plan_path=plan, data=tmp_path)
    (tmp_path / "runs" / "h.lock").write_text(str(os.getpid()))
    plan = _plan(tmp_path, [{"name": "h", "recipe": "edge-s", "args": {"epochs": 3}, "device": "gpu"}], tmp_path)
    with pytest.raises(camp.CampaignError, match="a campaign runner is training h"):
        camp.record_run("h", _device_run(tmp_path / "device" / "h-run"), plan_path=plan, data=tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": [{"name": "x", "recipe": "edge-s", "device": "tpu"}]}))
    with pytest.raises(camp.CampaignError, match="device must be cpu or gpu"):
        camp.Campaign.load(bad)


def test_a_device_folder_with_only_its_ema_weights_is_scored_in_the_ema_columns(tmp_path, monkeypatch):
    """A device call brings back the picked weights first and the others only when they fit: EMA weights alone
    are booked as EMA (not in the plain columns), and the table's test columns follow them."""
    monkeypatch.setattr(camp, "Scorer", FakeScorer)
    monkeypatch.setenv("FER_EDGE_CAMPAIGN_DIR", str(tmp_path / "runs"))
    plan = _plan(tmp_path, [{"name": "g", "recipe": "edge-s", "args": {"epochs": 3}, "device": "gpu"}], tmp_path)
    run = _device_run(tmp_path / "d", complete=False)
    (run / "model.keras").rename(run / "model_ema.keras")
    (run / "best_ema.json").write_text(json.dumps({"epoch": 1, "val_accuracy": 0.64}))
    seg = camp.record_run("g", run, plan_path=plan, data=tmp_path, log=lambda m: None)
    assert "best" not in seg and seg["best_ema"]["test"] == 0.655 and seg["best_ema"]["epoch"] == 1
    row = next(r for r in (tmp_path / "results" / "README.md").read_text().splitlines() if r.startswith("| g |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[6:10] == ["-", "64.00% (1)", "65.50%", "64.50%"]


def test_a_gpu_run_cut_short_then_trained_again_from_zero_is_recorded_as_a_restart(tmp_path, monkeypatch):
    """A bare device machine cannot resume an earlier call's epochs: a folder whose last call ran every one of
    its epochs started from 0, whatever the ledger had."""
    monkeypatch.setattr(camp, "Scorer", FakeScorer)
    monkeypatch.setenv("FER_EDGE_CAMPAIGN_DIR", str(tmp_path / "runs"))
    plan = _plan(tmp_path, [{"name": "g", "recipe": "edge-s", "args": {"epochs": 3}, "device": "gpu"}], tmp_path)
    first = _device_run(tmp_path / "d1", complete=False)
    summary = json.loads((first / "train.json").read_text())
    (first / "train.json").write_text(json.dumps({**summary, "epoch_seconds": [3.0]}))
    assert camp.record_run("g", first, plan_path=plan, data=tmp_path, log=lambda m: None)["epochs_to"] == 1
    again = _device_run(tmp_path / "d2")
    (again / "train.json").write_text(json.dumps({**json.loads((again / "train.json").read_text()),
                                                  "epoch_seconds": [3.0, 3.0, 3.0]}))
    seg = camp.record_run("g", again, plan_path=plan, data=tmp_path, log=lambda m: None)
    assert (seg["epochs_from"], seg["epochs_to"], seg["complete"]) == (0, 3, True)
    assert "restarted from epoch 0 (the 1 epochs recorded before did not outlive their device machine)" in seg["note"]
    resumed = _device_run(tmp_path / "d3", complete=False)  # a warm machine's second call: fewer epochs timed
    (resumed / "train.json").write_text(json.dumps({**json.loads((resumed / "train.json").read_text()),
                                                    "epochs_run": 2, "epoch_seconds": [3.0]}))
    plan = _plan(tmp_path, [{"name": "h", "recipe": "edge-s", "args": {"epochs": 3}, "device": "gpu"}], tmp_path)
    camp.record_run("h", first, plan_path=plan, data=tmp_path, log=lambda m: None)
    seg = camp.record_run("h", resumed, plan_path=plan, data=tmp_path, log=lambda m: None)
    assert (seg["epochs_from"], seg["epochs_to"]) == (1, 2) and "restarted" not in seg["note"]


def test_cli_record_needs_its_folder(tmp_path):
    from click.testing import CliRunner

    from fer_edge.cli import main

    plan = str(_plan(tmp_path, [{"name": "c2-seed-cnn1-e20", "recipe": "seed-cnn1", "args": {"epochs": 20},
                                 "device": "gpu"}], tmp_path))
    res = CliRunner().invoke(main, ["campaign", "--record", "c2-seed-cnn1-e20", "--plan", plan])
    assert res.exit_code != 0 and "--record RUN and --from FOLDER go together" in res.output
    res = CliRunner().invoke(main, ["campaign", "--record", "c2-seed-cnn1-e20", "--from", str(tmp_path / "runs"),
                                    "--plan", plan])
    assert res.exit_code != 0 and "not a finished run folder: no train.json" in res.output
    assert "Traceback" not in res.output


def test_device_job_rebuilds_a_model_from_its_parts_and_names_a_missing_one(tmp_path):
    from device_job import join

    blob = bytes(range(256)) * 1000
    for i in range(3):
        (tmp_path / f"model.keras.part{i}").write_bytes(blob[i * 100_000:(i + 1) * 100_000])
    assert [p.read_bytes() for p in join(tmp_path)] == [blob]
    (tmp_path / "model_ema.keras.part0").write_bytes(b"ema")  # the other weights, when they came back too
    assert [(p.name, p.read_bytes()) for p in join(tmp_path)] == [("model.keras", blob), ("model_ema.keras", b"ema")]
    (tmp_path / "model.keras.part1").unlink()
    with pytest.raises(ValueError, match="parts are missing"):
        join(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model.keras.part"):
        join(tmp_path / "model.keras")
    from device_job import main
    with pytest.raises(SystemExit, match=r"^device_job join: .*parts are missing"):
        main(["join", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"^usage: python tools/device_job.py probs MODEL DATA OUT.npz"):
        main(["probs", "m.keras"])


def test_device_job_takes_a_plan_run_with_its_arguments_or_a_recipe_and_names_neither(tmp_path):
    from fer_edge.training import campaign as camp
    from device_job import plan_or_recipe

    plan = _plan(tmp_path, [{"name": "c6", "recipe": "edge-s", "purpose": "the default", "args": {
        "epochs": 120, "distill": 0.5, "augment": {"erase": 0.25}, "teachers": ["results/t/probs.npz"]}}], tmp_path)
    assert plan_or_recipe("edge-s", plan) == ("edge-s", {})
    recipe, args = plan_or_recipe("c6", plan)
    assert recipe == "edge-s" and args["epochs"] == 120 and args["distill"] == 0.5 and args["augment"] == {"erase": 0.25}
    assert args["teachers"] == [str(camp.REPO / "results/t/probs.npz")]  # relative to the repository
    with pytest.raises(SystemExit, match="neither a recipe .* nor a plan run"):
        plan_or_recipe("edge-q", plan)


def test_device_pack_leaves_out_train_faces_identical_to_test_faces(mini_fer, tmp_path):
    """The pack has no test split, so the copies of test faces in train must be dropped before it is made."""
    import shutil

    import cv2

    from fer_edge.training.data import load
    from device_job import pack_leak_free

    root = tmp_path / "fer"
    shutil.copytree(mini_fer, root)
    tests = sorted((root / "test").glob("*/*.jpg"))[:3]
    for i, f in enumerate(tests):  # plant three leaks, one under another class's folder
        shutil.copy(f, root / "train" / (f.parent.name if i else "happy") / f"leak{i}.jpg")
    test_px = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in (root / "test").glob("*/*.jpg")]
    train_files = sorted((root / "train").glob("*/*.jpg"))
    copies = {f"{f.parent.name}/{f.name}" for f in train_files
              if any(np.array_equal(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), t) for t in test_px)}
    assert {"happy/leak0.jpg", f"{tests[1].parent.name}/leak1.jpg"} <= copies
    s = pack_leak_free(root, tmp_path / "pack.npz", log=lambda *_: None)
    assert s["left_out_as_test_copies"] == len(copies) and s["train_faces"] == len(train_files)
    train = load(tmp_path / "pack.npz", "train")
    assert len(train) == len(train_files) - len(copies) and not copies & set(train.names)
    assert len(load(tmp_path / "pack.npz", "val")) == len(list((root / "val").glob("*/*.jpg")))
    before = (tmp_path / "pack.npz").read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        pack_leak_free(root, tmp_path / "pack.npz", log=lambda *_: None)
    assert (tmp_path / "pack.npz").read_bytes() == before


def test_a_paused_epoch_does_not_end_a_segment_but_slower_epochs_do(tmp_path):
    """The deadline check takes the slowest recent epoch, but not one stretched by a pause (SIGSTOP for a benchmark)."""
    import time

    from fer_edge.training.train import _EpochLoop

    loop = _EpochLoop(tmp_path, None, None, None, None, 0)
    assert loop.fits_before(time.time() + 1.0)  # nothing measured yet
    loop.epoch_seconds = [180.0, 185.0, 2325.0]  # the last one paused for 35 minutes
    assert loop.fits_before(time.time() + 210.0) and not loop.fits_before(time.time() + 200.0)  # 1.1 x 185 s
    loop.epoch_seconds = [180.0, 185.0, 300.0, 320.0, 310.0]  # the machine got busier: believe it
    assert loop.fits_before(time.time() + 360.0) and not loop.fits_before(time.time() + 340.0)  # 1.1 x 320 s
    loop.epoch_seconds = [900.0] + [180.0] * 5  # an old slow epoch no longer counts
    assert loop.fits_before(time.time() + 200.0)


def test_the_progress_curve_takes_the_better_of_plain_and_ema_val(tmp_path):
    h = tmp_path / "history.csv"
    h.write_text("epoch,val_accuracy,val_ema_accuracy\n0,0.40,0.30\n1,0.50,0.55\n2,0.52,\n")
    assert camp._val_curve(h) == ([1, 2, 3], [0.40, 0.55, 0.52])


def test_device_job_sets_big_unread_files_aside_and_puts_them_back_without_overwriting(tmp_path):
    """What a device call carries must stay under 64 MiB: big files outside the code, the plan and its GPU runs'
    teachers leave the tree and come back byte for byte; one written again meanwhile is kept and named."""
    import subprocess

    from device_job import ASIDE_MIN_BYTES, put_back, set_aside

    big = ASIDE_MIN_BYTES + 1
    files = {"fer_edge/assets/detector.tflite": big, "training/x.py": big, "fer_edge/y.py": 10,
             "results/campaign/plan.json": 0,
             "results/campaign/t1/probs.npz": big, "results/campaign/c1/model.keras": big,
             "results/old/report.png": big, "docs/small.md": 100, "runs/ignored.bin": big}
    rng = np.random.default_rng(0)
    for rel, n in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(rng.bytes(n))
    (tmp_path / "results/campaign/plan.json").write_text(json.dumps({"runs": [
        {"name": "g1", "recipe": "edge-s", "device": "gpu", "args": {"teachers": ["results/campaign/t1/probs.npz"]}},
        {"name": "c9", "recipe": "edge-s", "args": {"teachers": ["results/campaign/c1/model.keras"]}}]}))  # CPU
    (tmp_path / ".gitignore").write_text("/runs/\n/.aside/\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    before = {p: (tmp_path / p).read_bytes() for p in files}
    assert set_aside(tmp_path, log=lambda *_: None) == {"set_aside": 3, "mib": round(3 * big / 2**20, 1)}
    gone = {p for p in files if not (tmp_path / p).exists()}
    assert gone == {"results/campaign/c1/model.keras", "results/old/report.png", "fer_edge/assets/detector.tflite"}
    with pytest.raises(FileExistsError, match="put it back first"):
        set_aside(tmp_path, log=lambda *_: None)
    (tmp_path / "results/old/report.png").write_bytes(b"new")  # written again while aside
    with pytest.raises(RuntimeError, match=r"^1 files were written again .*results/old/report.png"):
        put_back(tmp_path, log=lambda *_: None)
    assert (tmp_path / "results/old/report.png").read_bytes() == b"new"
    assert (tmp_path / ".aside/results/old/report.png").read_bytes() == before["results/old/report.png"]
    assert (tmp_path / "results/campaign/c1/model.keras").read_bytes() == before["results/campaign/c1/model.keras"]
    (tmp_path / "results/old/report.png").unlink()
    put_back(tmp_path, log=lambda *_: None)
    assert {p: (tmp_path / p).read_bytes() for p in files} == before and not (tmp_path / ".aside").exists()
    with pytest.raises(FileNotFoundError, match="nothing set aside"):
        put_back(tmp_path, log=lambda *_: None)


def test_a_block_commits_its_resume_state_and_another_machine_goes_on_from_it(tmp_path):
    import shutil

    plan = _plan(tmp_path, [{"name": "a", "recipe": "edge-s", "args": {"epochs": 6}}], tmp_path)
    fake = FakeTrain(stop_at={"a": 2})
    camp.run_campaign(plan, runs_dir=tmp_path / "m1", budget_s=3600, reserve_s=0, train_fn=fake, log=lambda m: None)
    kept = tmp_path / "results" / "a" / "resume"
    assert (kept / "backup" / "checkpoint.npz").read_bytes() == b"x"
    assert (kept / "history.csv").read_text() == (tmp_path / "m1" / "a" / "history.csv").read_text()

    fake.stop_at = {"a": 4}  # another machine: an empty checkpoint folder, the committed tree
    seg, = camp.run_campaign(plan, runs_dir=tmp_path / "m2", budget_s=3600, reserve_s=0, train_fn=fake,
                             log=lambda m: None)
    assert fake.calls[-1]["resume"] is True and (seg["epochs_from"], seg["epochs_to"]) == (2, 4)
    assert seg["note"].startswith("resumed at epoch 2 from the committed resume state; ")
    assert len((kept / "history.csv").read_text().splitlines()) == 5  # the header and epochs 0-3

    shutil.rmtree(tmp_path / "m2")  # a third machine, given an older commit's state (epoch 2 of the 4 recorded)
    shutil.copytree(tmp_path / "m1" / "a", kept, dirs_exist_ok=True)
    (kept / "history.csv").write_text((tmp_path / "m1" / "a" / "history.csv").read_text())
    fake.stop_at = {}
    seg, = camp.run_campaign(plan, runs_dir=tmp_path / "m3", budget_s=3600, reserve_s=0, train_fn=fake,
                             log=lambda m: None)
    assert (seg["epochs_from"], seg["epochs_to"], seg["complete"]) == (2, 6, True)
    assert "the 2 epochs recorded after it were trained again" in seg["note"]
    assert not kept.exists()  # a finished run keeps its small files, not its resume state


def test_a_finished_unrecorded_run_is_not_replaced_by_an_older_committed_state(tmp_path):
    """A run whose last epoch ended but whose runner died before recording has no checkpoint left: its own
    history (more epochs) must win over the committed resume state."""
    out, committed = tmp_path / "out", tmp_path / "committed"
    (committed / "backup").mkdir(parents=True)
    (committed / "backup" / "checkpoint.npz").write_bytes(b"x")
    (committed / "history.csv").write_text("epoch,val_accuracy\n" + "".join(f"{e},0.5\n" for e in range(2)))
    out.mkdir()
    (out / "history.csv").write_text("epoch,val_accuracy\n" + "".join(f"{e},0.5\n" for e in range(4)))
    assert camp._take_committed_resume(committed, out) is False
    assert len((out / "history.csv").read_text().splitlines()) == 5
    (out / "history.csv").write_text("epoch,val_accuracy\n0,0.5\n")
    assert camp._take_committed_resume(committed, out) is True
