"""IMAGE mode's check of unsure faces: false faces on real photos of things, the people found, recall on seeded
scenes, with the check and without it.

    python benchmarks/image_check.py [--data ../shared/datasets/fer2013] [--out benchmarks/results/image_check.md]

Needs scikit-image, scikit-learn and matplotlib (the `[test]` extra) for their sample photos.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    import cv2
    import numpy as np

    from fer_edge.options import DetectorOptions, RecognizerOptions
    from fer_edge.recognizer import EmotionRecognizer
    from fer_edge.release import photos
    from fer_edge.sysinfo import machine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "image_check.md")
    a = ap.parse_args(argv)
    files = sorted((Path(a.data) / "test").glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"image_check: no test/*/*.jpg under {a.data}")
    pick = np.random.default_rng(7).choice(len(files), 200, replace=False)  # the tests' scene faces
    faces = [cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE) for i in pick]
    things, people = photos.things(), photos.people()
    lines = [f"# IMAGE mode's check of unsure faces\n\n`python benchmarks/image_check.py` on {machine()}: "
             f"{len(things)} photos of things x 15 views, {len(people)} of people, 240 seeded scenes.\n",
             "| check | false faces in photos of things | people found | seeded scenes: recall | false faces |",
             "|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for label, verify in (("off", False), ("on (default)", True)):
        with EmotionRecognizer(RecognizerOptions(detector=DetectorOptions(verify=verify))) as rec:
            false = sum(len(rec.recognize(v)) for im in things.values() for v in photos.views(im))
            found = sum(len(rec.recognize(im)) == 1 for im in people.values())
            recall, scene_false = photos.scene_recall(rec, faces)
        lines.append(f"| {label} | {false} | {found} of {len(people)} | {recall:.3f} | {scene_false} |")
        print(lines[-1], flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
