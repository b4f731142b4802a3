"""fer-edge benchmark: rows agree with independent measurements, tables and plots are written."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from fer_edge.release import benchmark as B
from fer_edge.classifier import DEFAULT_MODEL, EmotionClassifier, bundled_models
from fer_edge.cli import main


def test_benchmark_rows_match_direct_measurements(fer_root, tmp_path):
    from fer_edge.training.data import load, stratified_indices

    model = bundled_models()[DEFAULT_MODEL]
    res = B.benchmark_models([model], fer_root, "test", limit=210, runs=20, log=lambda *_: None)
    (ours,) = res["rows"]
    d = load(fer_root, "test")
    d = d.subset(stratified_indices(d.y, 210))
    acc = float((EmotionClassifier().predict_proba(d.x).argmax(1) == d.y).mean())
    assert abs(ours["accuracy"] - acc) < 1e-9 and ours["format"] == "int8"
    # edge-s with BlurPool (29,674,112 MACs a view) mirror-averaged, after a 0.6 px blur (5 x 5 taps on 48 x 48)
    assert ours["bytes"] == model.stat().st_size and ours["macs"] == 2 * 29_674_112 + 48 * 48 * 25
    assert 0 < ours["ms_median_1t"] <= ours["ms_p90_1t"] and ours["faces_per_s_batch16_1t"] > 100
    B.write(res, tmp_path)
    md = (tmp_path / "benchmark.md").read_text()
    assert md.count("\n| ") >= 2 and "fer_edge_default.tflite | int8" in md
    assert (tmp_path / "benchmark.png").stat().st_size > 5000


@pytest.mark.runtime
def test_pipeline_breakdown_adds_up(scene_faces):
    full, = B.measure_pipeline(face_bank=scene_faces[:40], faces_per_frame=(2,), frames=12)
    assert abs(sum(full["ms_per_stage"].values()) - full["ms_per_frame"]) < 1e-9
    assert np.isclose(full["fps_1t"], 1000.0 / full["ms_per_frame"]) and 1.0 <= full["faces_found_mean"] <= 4.0


def test_video_benchmark_rows_are_measured_and_consistent(scene_faces):
    from fer_edge.release.video_benchmark import markdown, measure_video

    bank = np.stack([f for f in scene_faces if f.std() > 20])
    res = measure_video(bank, n_frames=12, sets={"1 face": dict(n_faces=1, clips=1)}, log=lambda m: None,
                        face_free_scenes=4)
    rows = {r["mode"]: r for r in res["sets"][0]["rows"]}
    assert set(rows) == {"image", "image-checked", "video-before", "video", "video-unverified"}
    assert rows["image-checked"]["kept_vs_image"] <= 1.0 and rows["image-checked"]["detector_views_per_frame"] >= 7.0
    assert rows["video-unverified"]["verifier_views_per_frame"] == 0.0 < rows["video"]["verifier_views_per_frame"]
    assert rows["image"]["kept_vs_image"] == 1.0 and rows["image"]["detector_views_per_frame"] == 7.0
    assert rows["video"]["detector_views_per_frame"] < 7.0  # followed in a region, not scanned
    unit = res["sets"][0]["whole_frame_invoke_ms"]
    for r in rows.values():
        assert np.isclose(r["fps_1t"], 1000.0 / r["ms_per_frame"], rtol=1e-2) and r["frames"] == 12
        assert np.isclose(r["whole_frame_invokes_per_frame"], r["ms_per_frame"] / unit, atol=0.01)
    assert res["sets"][0]["unit_samples"] == 5 * 3  # timed every 5th of 12 frames in each of the 5 rows
    assert "| 1 face | video |" in markdown(res)
    ff = res["face_free"]["faces_per_frame"]  # phantoms on face-free backgrounds: confirmation only removes some
    assert set(ff) == {"video-before", "video", "video-unverified"} and ff["video"] <= ff["video-before"]
    assert f"video {ff['video']}" in markdown(res)


def test_cli_benchmark_on_tflite_only(fer_root, tmp_path):
    model = bundled_models()[DEFAULT_MODEL]
    r = CliRunner().invoke(main, ["benchmark", str(model), "--data", str(fer_root), "--limit", "70", "--runs", "5",
                                  "--no-pipeline", "--json", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    assert len(res["rows"]) == 1 and res["rows"][0]["file"] == DEFAULT_MODEL
    assert json.loads((tmp_path / "benchmark.json").read_text())["rows"][0]["accuracy"] == res["rows"][0]["accuracy"]
    r = CliRunner().invoke(main, ["benchmark", str(tmp_path / "nothing.onnx"), "--data", str(fer_root)])
    assert r.exit_code == 2 and "expected a .keras or .tflite" in r.output


def test_interleaved_latency_times_every_model_in_each_round():
    from fer_edge.classifier import bundled_models
    from fer_edge.release.benchmark import interleaved_latency

    m = bundled_models()["fer_edge_default.tflite"]
    a, b = interleaved_latency([m, m], rounds=3, runs=5)
    assert a["ratio_to_first"] == a["ratio_min"] == a["ratio_max"] == 1.0 and a["rounds"] == 3 and a["runs"] == 5
    assert a["ms_median_1t"] > 0 and b["ms_median_1t"] > 0
    assert b["ratio_min"] <= b["ratio_to_first"] <= b["ratio_max"]


def test_video_benchmark_holds_one_clip_at_a_time_and_shows_progress(scene_faces):
    """`fer-edge benchmark` peaked at 6 GB with every clip of a set in memory; now its memory does not grow
    with the number of clips (numpy's buffers are traced by tracemalloc), and it says how far it is."""
    import tracemalloc

    from fer_edge.release.video_benchmark import measure_video

    bank = np.stack([f for f in scene_faces if f.std() > 20])
    peaks, logs = {}, []
    for clips in (2, 8):
        tracemalloc.start()
        measure_video(bank, n_frames=10, sets={"1 face": dict(n_faces=1, clips=clips)}, log=logs.append,
                      face_free_scenes=0)
        peaks[clips] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    clip_bytes = 10 * 640 * 480 * 3
    assert peaks[8] - peaks[2] < 2 * clip_bytes, (peaks, clip_bytes)
    assert any("clip 8/8" in m for m in logs) and any("clip 4/8" in m for m in logs)
