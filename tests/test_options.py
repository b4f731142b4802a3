"""RecognizerOptions in groups (MediaPipe's style): every field documented and checked when made; 0.3's flat
keywords still work for one release, with a DeprecationWarning naming the new place."""
from __future__ import annotations

import dataclasses
import re
import warnings

import pytest

from fer_edge import DetectorOptions, RecognizerOptions, RunningMode, TrackingOptions
from fer_edge.options import FLAT
from fer_edge.tracking import SmoothingOptions

pytestmark = pytest.mark.runtime


@pytest.mark.parametrize("cls", [DetectorOptions, TrackingOptions, RecognizerOptions, SmoothingOptions])
def test_every_field_is_documented(cls):
    doc = cls.__doc__ or ""
    missing = [f.name for f in dataclasses.fields(cls) if not re.search(rf"\b{f.name}\b", doc)]
    assert missing == [], f"{cls.__name__} fields not described in its docstring: {missing}"


@pytest.mark.parametrize("make, says", [
    (lambda: DetectorOptions(name="retina"), "DetectorOptions.name must be one of"),
    (lambda: DetectorOptions(min_score=1.5), "DetectorOptions.min_score must be within 0..1"),
    (lambda: DetectorOptions(min_face_size=0), "DetectorOptions.min_face_size must be at least 1"),
    (lambda: TrackingOptions(track_every=0), "TrackingOptions.track_every must be at least 1"),
    (lambda: TrackingOptions(region_scale=9), "TrackingOptions.region_scale must be within 1..6"),
    (lambda: TrackingOptions(instant_score=1.01), "TrackingOptions.instant_score must be within 0..1"),
    (lambda: TrackingOptions(box_filter=(1.0,)), "TrackingOptions.box_filter must be"),
    (lambda: RecognizerOptions(num_threads=0), "num_threads must be at least 1"),
    (lambda: RecognizerOptions(tracking=DetectorOptions()), "tracking must be a TrackingOptions"),
    (lambda: RecognizerOptions(running_mode=RunningMode.LIVE_STREAM), "LIVE_STREAM mode needs a result_callback"),
])
def test_bad_values_are_refused_when_the_options_are_made(make, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        make()


def test_no_sentinel_values():
    assert TrackingOptions().instant_score is None  # "off" is None, not 1.01


def test_flat_keywords_of_0_3_still_work_with_a_warning_that_names_the_new_place():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        o = RecognizerOptions(tiling="frame", region_tracking=False, detect_every=3, verify_faces=False)
    said = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert len(said) == 4 and re.search(r"RecognizerOptions\(tiling=\.\.\.\) .* use detector=DetectorOptions\(tiling="
                                        r"\.\.\.\)", said[0]) and "tracking=TrackingOptions(region_tracking=...)" in said[1]
    assert o.detector == DetectorOptions(tiling="frame", verify=False)
    assert o.tracking == TrackingOptions(region_tracking=False, detect_every=3)
    with pytest.warns(DeprecationWarning, match=r"use detector=DetectorOptions\(name=\.\.\.\)"):
        assert RecognizerOptions(detector="blazeface-full").detector.name == "blazeface-full"
    with pytest.warns(DeprecationWarning, match=r"\.tracking\.track_every"):
        assert o.track_every == 7
    assert set(FLAT) >= {"detector_model", "min_detection_score", "max_missed", "box_filter", "instant_score"}
    with pytest.raises(TypeError, match="unexpected keyword argument 'tilling'"):
        RecognizerOptions(tilling="frame")
    with pytest.raises(ValueError, match="TrackingOptions.max_missed must be at least 0"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            RecognizerOptions(max_missed=-1)  # the old keywords are checked as the new fields are


def test_grouped_options_build_and_copy_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        o = RecognizerOptions(running_mode=RunningMode.VIDEO, detector=DetectorOptions(min_score=0.6),
                              tracking=TrackingOptions(track_every=4), smoothing=SmoothingOptions("ema", alpha=0.3))
        c = dataclasses.replace(o, tracking=TrackingOptions(track_every=5))
    assert c.detector.min_score == 0.6 and c.tracking.track_every == 5 and c.running_mode is RunningMode.VIDEO


def test_the_rate_meter_counts_the_last_window_only():
    from fer_edge.rate import RateMeter

    m = RateMeter(window_s=1.0)
    assert m.rate == 0.0
    for i in range(21):
        m.tick(i * 0.05)  # 20 frames/s for a second
    assert m.rate == pytest.approx(20.0)
    for i in range(1, 6):
        m.tick(1.0 + i * 0.2)  # then 5 frames/s: the old ones leave the window
    assert m.rate == pytest.approx(5.0, rel=0.05)
    with pytest.raises(ValueError):
        RateMeter(0)
