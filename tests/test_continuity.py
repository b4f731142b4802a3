"""A track is one person (issue 33): tracks end at a shot cut, a loop restart or a camera moved at once,
and never pass from one face to another within a shot; gradual changes (a pan, a fade) keep them."""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest

from fer_edge import EmotionRecognizer, RecognizerOptions, RunningMode
from fer_edge.continuity import face_look, face_similarity, is_cut, same_face, small_frame
from fer_edge.release.video_benchmark import _match
from fer_edge.release.clips import make_shot_clip
from fer_edge.release.scenes import background
from command import FER_EDGE

pytestmark = pytest.mark.runtime

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def bank(scene_faces):
    return np.stack([f for f in scene_faces if f.std() > 20])


def _run(clip):
    """Per frame: whether it was a cut, and ``{person: track id}`` of the reported faces on a true face."""
    with EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO)) as rec:
        out = []
        for i, frame in enumerate(clip.frames):
            res = rec.recognize_for_video(frame, i * 33.3)
            got = _match([f.box for f in res.faces], clip.truth[i])
            out.append((res.cut, {pid: res.faces[ri].track_id for pid, ri in got.items()}, len(res.faces)))
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["cut", "cut-same-face"])
def test_a_shot_cut_ends_every_track_and_is_flagged(bank, kind, seed):
    clip = make_shot_clip(bank, kind, np.random.default_rng(seed))
    half = len(clip.frames) // 2
    frames = _run(clip)
    assert [i for i, (cut, _, _) in enumerate(frames) if cut] == [half]
    before = {tid for _, ids, _ in frames[:half] for tid in ids.values()}
    after = {tid for _, ids, _ in frames[half:] for tid in ids.values()}
    assert before and after and not before & after, (before, after)  # nobody after the cut is anybody before
    assert sum(bool(ids) for _, ids, _ in frames[half:]) >= half - 3  # the new face is reported within frames
    assert all(n <= 1 for _, _, n in frames)  # never the old track and the new one together


@pytest.mark.parametrize("seed", SEEDS)
def test_a_face_swapped_for_another_within_a_shot_gets_a_new_id(bank, seed):
    clip = make_shot_clip(bank, "swap", np.random.default_rng(seed))
    frames = _run(clip)
    assert not any(cut for cut, _, _ in frames)  # one face changing is not a cut
    first = {ids[0] for _, ids, _ in frames if 0 in ids}
    second = {ids[1] for _, ids, _ in frames if 1 in ids}
    assert first and second and not first & second, (first, second)
    assert all(n <= 1 for _, _, n in frames)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["pan", "fade"])
def test_gradual_changes_keep_the_track(bank, kind, seed):
    clip = make_shot_clip(bank, kind, np.random.default_rng(seed))
    frames = _run(clip)
    assert not any(cut for cut, _, _ in frames)
    ids = [ids[0] for _, ids, _ in frames if 0 in ids]
    assert len(ids) >= 0.9 * len(frames) and len(set(ids)) == 1, ids


def test_cut_test_on_frames():
    rng = np.random.default_rng(5)
    a, b = (cv2.cvtColor(background(480, 640, rng), cv2.COLOR_BGR2GRAY) for _ in range(2))
    assert is_cut(small_frame(a), small_frame(b))
    assert not is_cut(None, small_frame(a)) and not is_cut(small_frame(a), small_frame(a))
    wide = cv2.cvtColor(background(480, 700, rng), cv2.COLOR_BGR2GRAY)
    assert not is_cut(small_frame(wide[:, :640]), small_frame(wide[:, 16:656]))  # a fast pan
    dim = (a * 0.9).astype(np.uint8)
    assert not is_cut(small_frame(a), small_frame(dim))  # a step of a fade
    assert is_cut(small_frame(a), small_frame(np.clip(a.astype(int) + 90, 0, 255).astype(np.uint8)))  # re-exposed


def test_appearance_tells_two_faces_apart(bank):
    canvas = lambda f: np.pad(cv2.resize(f, (150, 150)), 25, constant_values=128)  # noqa: E731
    box, moved = (40, 45, 110, 110), (44, 41, 116, 116)
    same = [face_similarity(face_look(canvas(f), box), face_look(canvas(f), moved)) for f in bank[:40]]
    other = [face_similarity(face_look(canvas(f), box), face_look(canvas(g), moved))
             for f, g in zip(bank[:40], bank[1:41])]
    assert min(same) > 0.8 and np.median(other) < 0.5
    assert same_face(None, face_look(canvas(bank[0]), box))  # nothing to compare: no veto
    assert face_look(canvas(bank[0]), (190, 190, 100, 100)) is None  # mostly off the frame


def test_mark_cut_ends_tracks_on_the_next_frame(bank):
    clip = make_shot_clip(bank, "pan", np.random.default_rng(0), n_frames=12)
    with EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO)) as rec:
        ids, cuts = [], []
        for i, frame in enumerate(clip.frames):
            if i == 6:
                rec.mark_cut()
            res = rec.recognize_for_video(frame, i * 33.3)
            cuts.append(res.cut)
            ids.append({f.track_id for f in res.faces})
            assert res.to_dict()["cut"] is res.cut
    assert cuts == [i == 6 for i in range(12)]
    assert not set().union(*ids[:6]) & set().union(*ids[6:])


def _write(frames, path, fps=10):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for f in frames:
        w.write(f)
    w.release()


def test_camera_json_flags_the_cut_and_a_loop_restart_is_one(bank, tmp_path):
    """`fer-edge camera` on an edited clip writes `"cut": true` at the cut; a looping file's restart is a cut,
    so faces are never doubled where it jumps back (serve --loop reported 5 faces for 3)."""
    clip = make_shot_clip(bank, "cut", np.random.default_rng(0), n_frames=20)
    video = tmp_path / "clip.avi"
    _write(clip.frames, video)
    out = tmp_path / "faces.jsonl"
    r = subprocess.run([*FER_EDGE, "camera", "--source", str(video), "--no-display",
                        "--json-out", str(out), "--max-frames", "40", "--size", "640x480"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 20 and [x["frame"] for x in recs if x["cut"]] == [10]
    assert set(recs[0]) == {"frame", "timestamp_ms", "cut", "ended", "faces"}

    from fer_edge.stream import OpenCVSource, run_stream

    loop = tmp_path / "loop.avi"
    _write(make_shot_clip(bank, "pan", np.random.default_rng(1), n_frames=8).frames, loop)
    log = tmp_path / "loop.jsonl"
    with EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO)) as rec, open(log, "w") as fh:
        summary = run_stream(OpenCVSource(str(loop), loop=True), rec, json_out=fh, max_frames=24, log=lambda m: None)
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert summary.frames == 24 and [x["frame"] for x in recs if x["cut"]] == [8, 16]
    assert max(len(x["faces"]) for x in recs) == 1
    ids = [{f["track_id"] for f in x["faces"]} for x in recs]
    assert not set().union(*ids[:8]) & set().union(*ids[8:16])
