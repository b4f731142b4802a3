"""Real photographs this project did not make, from installed packages, and what IMAGE mode finds in them.

- :func:`things`: photos with no face (scikit-image's CC0 / public-domain samples: a cat, coffee, brick, grass,
  gravel, a rocket, the Hubble deep field, a horse; scikit-learn's temple and flower; matplotlib's gift box) and
  :func:`more_things` (scikit-image's coins, moon, clock, a page, text, its logo, a stained tissue, cells, a colour
  wheel, a retina, a motorcycle): the check was tuned on the first set and measured on the second;
- :func:`people`: photos of one person each (scikit-image's astronaut and cameraman, matplotlib's Grace Hopper);
- :func:`views`: a photo whole and as 14 enlarged crops (halves, centre, thirds), where phantoms hide;
- :func:`scene_recall`: recall and false faces on seeded scenes of pasted FER2013 faces.

``python benchmarks/image_check.py`` prints what IMAGE mode's check of unsure faces costs and buys with these.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .scenes import make_scene, match


def _bgr(a) -> np.ndarray:
    a = np.asarray(a)
    a = (a * 255).astype(np.uint8) if a.dtype == bool else a
    return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR) if a.ndim == 2 else cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2BGR)


def _sklearn(name: str) -> np.ndarray:
    import sklearn

    return cv2.imread(str(Path(sklearn.__file__).parent / "datasets" / "images" / name))


def _matplotlib(name: str) -> np.ndarray:
    import matplotlib

    return cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / name))


def things() -> dict[str, np.ndarray]:
    """Photos of things, animals, textures and the sky (BGR); needs scikit-image, scikit-learn and matplotlib."""
    import skimage.data as sd

    photos = {n: _bgr(getattr(sd, n)()) for n in
              ("chelsea", "coffee", "brick", "grass", "gravel", "rocket", "hubble_deep_field", "horse")}
    photos.update({"china": _sklearn("china.jpg"), "flower": _sklearn("flower.jpg"),
                   "gift box": _matplotlib("Minduka_Present_Blue_Pack.png")})
    return photos


def more_things() -> dict[str, np.ndarray]:
    """More photos with no face (BGR), kept apart from :func:`things` to measure a check tuned on those."""
    import skimage.data as sd

    photos = {n: _bgr(getattr(sd, n)()) for n in ("coins", "moon", "clock", "page", "text", "logo",
                                                  "immunohistochemistry", "cell", "colorwheel", "retina")}
    photos["motorcycle"] = _bgr(sd.stereo_motorcycle()[0])
    return photos


def people() -> dict[str, np.ndarray]:
    """Photos of one person each (BGR)."""
    import skimage.data as sd

    return {"astronaut": _bgr(sd.astronaut()), "camera": _bgr(sd.camera()),
            "grace hopper": _matplotlib("grace_hopper.jpg")}


def views(im: np.ndarray) -> list[np.ndarray]:
    """The whole photo and 14 crops of it (halves, centre, thirds), each enlarged to 640 px wide."""
    H, W = im.shape[:2]
    out = [im]
    grid = [(x / 2, y / 2, 0.5) for x in range(2) for y in range(2)] + [(0.25, 0.25, 0.5)]
    grid += [(x / 3, y / 3, 1 / 3) for x in range(3) for y in range(3)]
    for x0, y0, s in grid:
        c = im[int(y0 * H):int((y0 + s) * H), int(x0 * W):int((x0 + s) * W)]
        out.append(cv2.resize(c, (640, int(640 * c.shape[0] / c.shape[1]))))
    return out


def scene_recall(recognizer, faces, seeds=(2, 3), scenes: int = 120) -> tuple[float, int]:
    """(recall, false faces) of ``recognizer`` (IMAGE mode) on ``scenes`` seeded scenes per seed, each 1-4 of
    ``faces`` (gray FER2013 crops) pasted at 90-200 px into 640x480."""
    found = total = false = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for _ in range(scenes):
            k = int(rng.integers(1, 5))
            idx = rng.choice(len(faces), k, replace=False)
            img, placed = make_scene([faces[i] for i in idx], [0] * k, rng)
            boxes = [f.box for f in recognizer.recognize(img)]
            pairs, _ = match(boxes, placed, 0.3)
            hits = sum(p is not None for p in pairs)
            found, total, false = found + hits, total + len(placed), false + len(boxes) - hits
    return found / total, false
