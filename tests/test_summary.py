"""Per-person summaries: TrackLog over FrameResults, `predict --summary` and `camera --summary-out`."""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest

from fer_edge.recognizer import FaceResult, FrameResult
from fer_edge.summary import TIMELINE_ROWS, TrackLog, summarize, write_summary
from fer_edge.release.clips import make_shot_clip
from command import FER_EDGE

LABELS = ["angry", "happy", "neutral"]


def face(track_id, emotion):
    return FaceResult((0, 0, 40, 40), 0.9, emotion, 0.8, {lab: (0.8 if lab == emotion else 0.1) for lab in LABELS},
                      (), track_id)


def test_a_person_is_summarised_when_their_track_ends():
    log = TrackLog(LABELS)
    done = []
    for i in range(30):
        faces = ([face(0, "happy" if i < 12 or 15 <= i < 18 else "neutral")] if i < 20 else []) + \
                ([face(1, "angry")] if i >= 10 else [])
        done += log.add(FrameResult(i, 100.0 * i, faces, ended=(0, 7) if i == 20 else ()))  # 7: never seen
    assert [p.track_id for p in done] == [0] and log.open_tracks == [1]
    p = done[0]
    assert (p.first_ms, p.last_ms, p.frames, p.duration_s) == (0.0, 1900.0, 20, 1.9)
    assert p.emotion == "happy" and p.shares == {"angry": 0.0, "happy": 15 / 20, "neutral": 5 / 20}
    assert p.changes == 3  # happy -> neutral (12), -> happy (15), -> neutral (18)
    rest = log.finish()
    assert [(q.track_id, q.frames, q.emotion, q.changes) for q in rest] == [(1, 20, "angry", 0)]
    assert log.open_tracks == []
    d = p.to_dict()
    assert set(d) == {"track_id", "first_ms", "last_ms", "duration_s", "frames", "emotion", "shares", "changes",
                      "unsure"}
    with pytest.raises(ValueError, match="track_id"):
        TrackLog(LABELS).add(FrameResult(0, 0.0, [face(None, "happy")]))


def test_the_timeline_of_a_long_track_stays_bounded_and_spans_it():
    results = (FrameResult(i, 40.0 * i, [face(0, LABELS[i // 500 % 3])]) for i in range(5 * TIMELINE_ROWS))
    (p,) = summarize(results, LABELS, timeline=True)
    assert p.frames == 5 * TIMELINE_ROWS and TIMELINE_ROWS // 2 <= len(p.timeline) <= TIMELINE_ROWS
    assert p.timeline[0]["t_s"] == 0.0 and p.timeline[-1]["t_s"] > 0.99 * p.last_ms / 1000


def test_write_summary_never_overwrites(tmp_path):
    people = summarize([FrameResult(i, 10.0 * i, [face(0, "happy")]) for i in range(5)], LABELS, timeline=True)
    js, png = write_summary(tmp_path / "p.json", people, LABELS, source="cam")
    assert json.loads(js.read_text())["people"][0]["frames"] == 5 and cv2.imread(str(png)) is not None
    before = js.read_bytes()
    with pytest.raises(FileExistsError):
        write_summary(tmp_path / "p.json", people, LABELS)
    assert js.read_bytes() == before


@pytest.fixture(scope="module")
def cut_clip(scene_faces, tmp_path_factory):
    """20 frames at 10 frames/s: one person, a hard cut at frame 10, another person."""
    bank = np.stack([f for f in scene_faces if f.std() > 20])
    clip = make_shot_clip(bank, "cut", np.random.default_rng(0), n_frames=20)
    path = tmp_path_factory.mktemp("cut") / "cut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (640, 480))
    for f in clip.frames:
        w.write(f)
    w.release()
    return path


def _cli(*args):
    return subprocess.run([*FER_EDGE, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_predict_summary_gives_one_record_per_person_and_a_timeline(cut_clip, tmp_path):
    r = _cli("predict", cut_clip, "--summary", "--json", "--annotate", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    people = rec["people"]
    assert [p["track_id"] for p in people] == [0, 1], people  # the cut ends the first person
    assert people[0]["first_ms"] == 0 and people[0]["last_ms"] == 900 and people[1]["first_ms"] == 1000
    assert people[0]["frames"] == 10 and people[1]["frames"] == 10
    for p in people:
        assert abs(sum(p["shares"].values()) - 1) < 1e-3 and p["shares"][p["emotion"]] == max(p["shares"].values())
    png = tmp_path / "out" / "cut.timeline.png"
    assert f"timeline: {cut_clip} -> {png}" in r.stderr
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 200  # two panels
    table = _cli("predict", cut_clip, "--summary")
    rows = table.stdout.splitlines()
    assert rows[0].startswith("path\ttrack") and [x.split("\t")[1] for x in rows[1:]] == ["0", "1"]


def test_camera_summary_out_writes_people_and_never_overwrites(cut_clip, tmp_path):
    out = tmp_path / "people.json"
    r = _cli("camera", "--source", cut_clip, "--no-display", "--summary-out", out)
    assert r.returncode == 0, r.stderr
    body = json.loads(out.read_text())
    assert [p["track_id"] for p in body["people"]] == [0, 1] and body["labels"][0] == "angry"
    assert out.with_suffix(".png").stat().st_size > 1000
    before = out.read_bytes()
    again = _cli("camera", "--source", cut_clip, "--no-display", "--summary-out", out)
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"error: --summary-out {out}: {out} already exists (never overwritten)"]
    assert out.read_bytes() == before


def test_a_face_that_leaves_is_ended_once_and_only_reported_ids_are():
    from conftest import ROOT
    from fer_edge import EmotionRecognizer, RecognizerOptions, RunningMode

    img = cv2.imread(str(ROOT / "examples" / "images" / "group.jpg"))
    with EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO)) as rec:
        gone = img.copy()  # the faces leave, the room stays: no cut
        for f in rec.recognize_for_video(img, 0.0).faces:
            x, y, w, h = f.box
            gone[max(0, y - 10):y + h + 10, max(0, x - 10):x + w + 10] = 90
        res = [rec.recognize_for_video(f, 40.0 * (i + 1)) for i, f in enumerate([img] * 5 + [gone] * 20)]
    assert not any(r.cut for r in res)
    shown = {f.track_id for r in res for f in r.faces}
    ended = [tid for r in res for tid in r.ended]
    assert len(shown) == 3 and sorted(ended) == sorted(shown)  # each person ends once, none that was never shown
    first_end = next(i for i, r in enumerate(res) if r.ended)
    assert first_end >= 5 and all(not r.faces for r in res[first_end:])
    assert [p.track_id for p in summarize(res, rec.labels)] == sorted(shown)
