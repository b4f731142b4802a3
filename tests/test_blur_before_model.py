"""The blur a release asks for runs before the model, in numpy, exactly as the graph's Blur layer did."""
import json

import cv2
import numpy as np
import pytest

from fer_edge.metadata import MetadataError, ModelMetadata
from fer_edge.preprocessing import Preprocessing, blur_faces, gaussian_taps, normalize


@pytest.mark.parametrize("sigma", [0.5, 0.6, 1.3])
def test_blur_faces_is_the_graphs_blur_and_opencvs(sigma):
    from fer_edge.training.architectures import Blur

    x = np.random.default_rng(1).random((3, 48, 48)).astype(np.float32)
    layer = np.asarray(Blur(sigma)(x[..., None]))[..., 0]
    assert np.abs(blur_faces(x, sigma) - layer).max() < 1e-6
    k = len(gaussian_taps(sigma))
    cv = np.stack([cv2.GaussianBlur(f, (k, k), sigma, borderType=cv2.BORDER_REFLECT_101) for f in x])
    assert np.abs(blur_faces(x, sigma) - cv).max() < 1e-5
    assert blur_faces(np.zeros((0, 48, 48), np.float32), sigma).shape == (0, 48, 48)


def test_normalize_blurs_only_when_the_preprocessing_says_so_and_metadata_carries_it():
    f = np.random.default_rng(2).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    plain, blurred = normalize(f, Preprocessing()), normalize(f, Preprocessing(blur=0.5))
    assert np.array_equal(blurred[..., 0], blur_faces(plain[..., 0], 0.5))
    assert np.abs(plain - blurred).max() > 0.05
    meta = ModelMetadata(labels=["a", "b"], preprocessing=Preprocessing(blur=0.5))
    assert ModelMetadata.from_json(meta.to_json()).preprocessing.blur == 0.5
    d = json.loads(meta.to_json())
    del d["preprocessing"]["blur"]
    assert ModelMetadata.from_dict(d).preprocessing.blur == 0.0  # models before 0.4.5: no blur outside the graph
    for bad, msg in ((True, "a finite number"), (-1, "blur must be within 0..3 px"), (4.0, "blur must be within")):
        d["preprocessing"]["blur"] = bad
        with pytest.raises(MetadataError, match=msg):
            ModelMetadata.from_dict(d)


def test_a_release_puts_the_blur_in_the_metadata_not_in_the_graph(parent_model, tmp_path, test_faces):
    """The released parent answers what the graph with a Blur layer answered, with no Blur layer in it."""
    from fer_edge.release.tier import _views
    from fer_edge.training.architectures import Blur, averaged
    from fer_edge.training.evaluate import load_keras, load_predictor

    dest = _views([parent_model], tmp_path, mirror=True, blur=0.6)
    model = load_keras(dest)
    assert not any(isinstance(layer, Blur) for layer in model.layers)
    pred = load_predictor(dest)
    assert pred.metadata.preprocessing.blur == 0.6 and pred.metadata.training["blur"] == 0.6
    faces = test_faces[0][:64]
    old = averaged([load_keras(parent_model)], mirror=True, blur=0.6)
    want = np.asarray(old(normalize(faces, Preprocessing()), training=False))
    assert np.abs(pred.predict(faces) - want).max() < 1e-4
