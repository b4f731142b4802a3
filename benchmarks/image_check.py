"""IMAGE mode's check of unsure faces: false faces on real photos of things, the people found, recall on seeded
scenes; without the check, with the detector's own check alone (found again in closer views), and with the
default (that and the face mesh model's judgement).

    python benchmarks/image_check.py [--data ../shared/datasets/fer2013] [--out benchmarks/results/image_check.md]

Needs scikit-image, scikit-learn and matplotlib (the `[test]` extra) for their sample photos. The check's
thresholds were chosen on the first photo set and scene seeds (2, 3); the second set and seeds 4, 5 measure them.
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
    things, more, people = photos.things(), photos.more_things(), photos.people()
    lines = [f"# IMAGE mode's check of unsure faces\n\n`python benchmarks/image_check.py` on {machine()}: "
             f"photos of things x 15 views ({len(things)} the check was tuned on, {len(more)} it never saw), "
             f"{len(people)} of people, 240 seeded scenes a seed pair.\n",
             "| check | false faces: tuning photos | unseen photos | people found | scenes 2-3: recall (false faces) "
             "| scenes 4-5: recall (false faces) |", "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for label, verify, mesh in (("off", False, False), ("found again in closer views", True, False),
                                ("found again or the face mesh model's judgement (default)", True, True)):
        with EmotionRecognizer(RecognizerOptions(detector=DetectorOptions(verify=verify))) as rec:
            if verify and not mesh:  # the detector's own check alone: the default before the face mesh model
                rec.presence.close()
                rec.presence = None
            false = [sum(len(rec.recognize(v)) for im in ph.values() for v in photos.views(im)) for ph in (things, more)]
            found = sum(len(rec.recognize(im)) == 1 for im in people.values())
            scenes = [photos.scene_recall(rec, faces, seeds) for seeds in ((2, 3), (4, 5))]
        lines.append(f"| {label} | {false[0]} | {false[1]} | {found} of {len(people)} | "
                     + " | ".join(f"{r:.3f} ({n})" for r, n in scenes) + " |")
        print(lines[-1], flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
