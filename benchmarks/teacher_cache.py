"""What a cached teacher costs against a live one: the targets it gives for augmented faces.

    python benchmarks/teacher_cache.py TEACHER.keras CACHE.npz [--faces 2000] [--data ../shared/datasets/fer2013]

A cache holds the teacher's view of each *plain* training face; a live teacher sees
the augmented face the student is shown (shifted, rotated, flipped, erased...).
This draws training faces (seeded), augments them as the campaign does, and
compares, at the distillation temperature: top-1 agreement of the two targets,
their KL divergence, each one's accuracy against the label on the augmented
face, and what the live teacher costs here per face and per training epoch (a cached
target is an array lookup: free beside training). Writes benchmarks/results/teacher_cache.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EPOCH_FACES = 26_942  # a campaign epoch: train/ less its leaks and repeats
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def compare(live: np.ndarray, cached: np.ndarray, y: np.ndarray) -> dict:
    """Agreement, mean KL(live || cached) in nats, and each target's top-1 accuracy against labels ``y``."""
    eps = 1e-7
    kl = np.sum(live * (np.log(live + eps) - np.log(cached + eps)), axis=1)
    return {"top1_agreement": round(float((live.argmax(1) == cached.argmax(1)).mean()), 4),
            "kl_live_cached": round(float(kl.mean()), 4),
            "live_accuracy": round(float((live.argmax(1) == y).mean()), 4),
            "cached_accuracy": round(float((cached.argmax(1) == y).mean()), 4)}


def render(res: dict) -> str:
    """The Markdown table of a result (``teacher_cache.json``)."""
    md = [f"Cached vs live teacher targets on {res['faces']} training faces (seed {res['seed']}), temperature "
          f"{res['temperature']}, {res['machine']}. A cached target is an array lookup; the live teacher's cost is "
          f"its time here, per face and for one campaign epoch ({EPOCH_FACES:,} faces).", "",
          "| faces | top-1 agreement | KL(live, cached) nats | live target accuracy | cached target accuracy | "
          "live teacher faces/s | live teacher min per epoch |", "|---" * 7 + "|"]
    for name, r in res["rows"].items():
        md.append(f"| {name} | {100 * r['top1_agreement']:.1f}% | {r['kl_live_cached']} | "
                  f"{100 * r['live_accuracy']:.1f}% | {100 * r['cached_accuracy']:.1f}% | {r['live_faces_per_s']} | "
                  f"{EPOCH_FACES / r['live_faces_per_s'] / 60:.0f} |")
    return "\n".join(md) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("teacher", help="the teacher model (.keras or .tflite)")
    ap.add_argument("cache", help="its probabilities cache (.npz, as fer_edge.training.distill.write_teacher_cache writes it)")
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--faces", type=int, default=2000)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--erase", type=float, default=0.25, help="random erasing probability (the campaign's runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    a = ap.parse_args(argv)

    import cv2

    from fer_edge.training.augment import NONE, Augment
    from fer_edge.training.distill import CachedTeacher, soften
    from fer_edge.training.evaluate import load_predictor

    cache = CachedTeacher.load(Path(a.cache))
    names = sorted(cache.names)
    rng = np.random.default_rng(a.seed)
    pick = [names[i] for i in rng.choice(len(names), min(a.faces, len(names)), replace=False)]
    faces = []
    for n in pick:
        img = cv2.imread(str(Path(a.data, "train", n)), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise SystemExit(f"error: {Path(a.data, 'train', n)} is missing: the cache was made from other data")
        faces.append(img)
    faces = np.stack(faces)
    y = np.array([cache.labels.index(n.split("/")[0]) for n in pick])
    cache.bind(pick)
    teacher = load_predictor(a.teacher)
    from fer_edge.preprocessing import resize_batch

    size = teacher.metadata.preprocessing.size
    rows = {}
    for name, aug in (("plain", NONE), ("augmented", Augment(erase=a.erase))):
        x = aug(faces, np.random.default_rng(a.seed + 1))
        t = time.perf_counter()
        live = teacher.predict(resize_batch(x, size))
        live_s = time.perf_counter() - t
        cached = cache.predict_rows(np.arange(len(pick)))
        rows[name] = {**compare(soften(live, a.temperature), soften(cached, a.temperature), y),
                      "live_faces_per_s": round(len(x) / live_s, 1)}
        print(name, rows[name], flush=True)
    from fer_edge.sysinfo import machine

    res = {"teacher": a.teacher, "cache": a.cache, "faces": len(pick), "temperature": a.temperature,
           "erase": a.erase, "seed": a.seed, "machine": machine(), "rows": rows}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "teacher_cache.json").write_text(json.dumps(res, indent=1) + "\n")
    md = render(res)
    (out / "teacher_cache.md").write_text(md)
    print(md)
    return res


if __name__ == "__main__":
    main()
