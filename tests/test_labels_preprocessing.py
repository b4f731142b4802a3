import numpy as np
import pytest

from fer_edge.labels import FER2013_CLASSES, ClassSet
from fer_edge.preprocessing import (Preprocessing, crop_face, dequantize, faces_to_input, normalize, quantize,
                                    square_box, to_gray_u8)

pytestmark = pytest.mark.runtime  # device runtime only: runs under aarch64 emulation too


def test_csv_order_is_the_fer2013_order():
    assert FER2013_CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert ClassSet.parse(None).names == FER2013_CLASSES


def test_subset_and_merge_by_name():
    cs = ClassSet.parse("neutral,surprise,happy,sad")
    assert cs.names == ("neutral", "surprise", "happy", "sad")
    assert cs.index_of("Happiness") == 2 and cs.index_of("angry") is None
    merged = ClassSet.parse("angry,calm=sad+neutral,happy")
    assert merged.names == ("angry", "calm", "happy")
    assert merged.index_of("neutral") == merged.index_of("sad") == 1
    assert ClassSet.parse("sad+neutral,happy").names == ("sad+neutral", "happy")
    # alphabetical folder order maps to the right outputs
    assert ClassSet.parse(None).lookup_table(sorted(FER2013_CLASSES)) == [0, 1, 2, 3, 6, 4, 5]


@pytest.mark.parametrize("spec", ["happy", "happy,happy", "happy,joy", "happy,,sad"])
def test_bad_class_specs(spec):
    with pytest.raises(ValueError):
        ClassSet.parse(spec)


def test_from_names_round_trip():
    cs = ClassSet.parse("angry,sad+neutral,happy")
    again = ClassSet.from_names(cs.names)
    assert again.sources == cs.sources


def test_square_box_margin_and_offset():
    x0, y0, side = square_box((100, 50, 40, 60), margin=0.25, offset=0.0)
    assert side == 90 and x0 == 75 and y0 == 35
    _, y_up, _ = square_box((100, 50, 40, 60), margin=0.25, offset=-0.1)
    assert y_up == 29


def test_crop_face_pads_outside_with_edge_pixels():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    spec = Preprocessing(crop_margin=0.0, crop_offset=0.0)
    crop = crop_face(img, (-2, -2, 6, 6), spec)
    assert crop.shape == (6, 6)
    assert crop[0, 0] == img[0, 0] and crop[2, 2] == img[0, 0] and crop[5, 5] == img[3, 3]
    with pytest.raises(ValueError):
        crop_face(img, (50, 50, 5, 5), spec)


def test_to_gray_handles_depths_and_channels():
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # pure red
    assert to_gray_u8(bgr)[0, 0] == 76
    bgra = np.dstack([bgr, np.full((4, 4), 7, np.uint8)])
    assert to_gray_u8(bgra)[0, 0] == 76
    assert to_gray_u8(np.full((3, 3), 65535, np.uint16))[0, 0] == 255
    assert to_gray_u8(np.full((3, 3), 0.5, np.float32))[0, 0] == 128
    with pytest.raises(ValueError):
        to_gray_u8(np.zeros((2, 2, 2), np.uint8))


def test_normalize_and_channels():
    spec = Preprocessing(mean=0.0, std=255.0)
    x = normalize(np.full((2, 48, 48), 255, np.uint8), spec)
    assert x.shape == (2, 48, 48, 1) and np.allclose(x, 1.0)
    rgb = faces_to_input([np.zeros((96, 96), np.uint8)], Preprocessing(color="rgb"))
    assert rgb.shape == (1, 48, 48, 3)
    assert faces_to_input([], spec).shape == (0, 48, 48, 1)


def test_quantize_matches_int8_input_convention():
    # a model calibrated on pixel/255 gets scale 1/255 and zero point -128: q = pixel - 128 exactly
    px = np.arange(256, dtype=np.uint8)
    q = quantize(normalize(px[None, :, None], Preprocessing()), 1 / 255, -128, np.int8)
    assert np.array_equal(q.reshape(-1).astype(int), px.astype(int) - 128)
    back = dequantize(np.array([-128, 127], np.int8), 1 / 256, -128)
    assert np.allclose(back, [0.0, 255 / 256])


@pytest.mark.parametrize("kw", [dict(size=4), dict(color="bgr"), dict(std=0), dict(crop_margin=2)])
def test_bad_preprocessing(kw):
    with pytest.raises(ValueError):
        Preprocessing(**kw)
