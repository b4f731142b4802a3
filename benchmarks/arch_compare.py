"""Do fer-edge's answers depend on the CPU? Dump them on one machine, compare two dumps.

LiteRT's XNNPACK runs different INT8 kernels on x86-64 and on ARM, so the same
model file may round differently. `dump` runs only the device runtime (numpy,
OpenCV, LiteRT: it works in the emulated aarch64 Python of tools/aarch64.py) on
fixed inputs: N FER2013 test faces per class through the bundled INT8
classifier, and seeded synthetic scenes through the detector and the whole
IMAGE-mode recognizer. `report` compares two dumps.

    python benchmarks/arch_compare.py dump OUT.npz [--per-class 100] [--scenes 40]
    python benchmarks/arch_compare.py report X86.npz ARM.npz --out benchmarks/results/aarch64-bookworm
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES_ALPHA = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def fer_root() -> Path:
    root = Path(os.environ.get("FER2013_ROOT", ROOT.parent / "shared" / "datasets" / "fer2013"))
    if not (root / "test").is_dir():
        sys.exit(f"arch_compare: no FER2013 test/ folder at {root} (set FER2013_ROOT)")
    return root


def test_faces(root: Path, per_class: int) -> tuple[np.ndarray, list[str]]:
    """The first `per_class` test faces of every class folder, by file name (no randomness to reproduce)."""
    files = [f for c in CLASSES_ALPHA for f in sorted((root / "test" / c).glob("*.jpg"))[:per_class]]
    faces = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])
    return faces, [f"{f.parent.name}/{f.name}" for f in files]


def scenes(root: Path, n: int):
    """Seeded 640x480 scenes with 1-4 pasted test faces each (the detection tests' generator)."""
    from fer_edge.release.scenes import make_scene

    files = sorted((root / "test").glob("*/*.jpg"))
    rng = np.random.default_rng(2026)
    out = []
    for _ in range(n):
        idx = rng.choice(len(files), int(rng.integers(1, 5)), replace=False)
        crops = [cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE) for i in idx]
        out.append(make_scene(crops, [0] * len(crops), rng)[0])
    return out


def dump(out: Path, per_class: int, n_scenes: int) -> None:
    from fer_edge import EmotionClassifier, EmotionRecognizer
    from fer_edge.classifier import DEFAULT_MODEL, bundled_models
    from fer_edge.detection.blazeface import BlazeFaceDetector

    root = fer_root()
    faces, names = test_faces(root, per_class)
    t0 = time.perf_counter()
    with EmotionClassifier() as clf:
        probs = np.concatenate([clf.predict_proba(faces[i:i + 64]) for i in range(0, len(faces), 64)])
        labels = list(clf.labels)
    t_faces = time.perf_counter() - t0
    model = bundled_models()[DEFAULT_MODEL]  # named in the report: the numbers are this file's
    model_id = f"{model.name} sha256 {hashlib.sha256(model.read_bytes()).hexdigest()[:12]}"
    images = scenes(root, n_scenes) + [cv2.imread(str(ROOT / "examples" / "images" / "group.jpg"))]
    det = BlazeFaceDetector()
    det_rows, rec_rows, rec_probs = [], [], []
    t0 = time.perf_counter()
    with EmotionRecognizer.create_from_model_path() as rec:
        for k, img in enumerate(images):
            det_rows += [[k, b.x, b.y, b.w, b.h, b.score] for b in det.detect(img)]
            for f in rec.recognize(img):
                rec_rows.append([k, *f.box, f.detection_score])
                rec_probs.append([f.probabilities[c] for c in labels])
    t_scenes = time.perf_counter() - t0
    meta = {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "litert": _version("ai-edge-litert"), "labels": labels,
            "seconds": {"faces": round(t_faces, 2), "scenes": round(t_scenes, 2)}, "images": len(images),
            "classifier": model_id}
    np.savez_compressed(out, probs=probs, names=np.array(names), det=np.array(det_rows, np.float64).reshape(-1, 6),
                        rec=np.array(rec_rows, np.float64).reshape(-1, 6),
                        rec_probs=np.array(rec_probs, np.float64).reshape(-1, len(labels)), meta=json.dumps(meta))
    print(f"{meta['machine']}: {len(faces)} faces, {len(images)} images, {len(det_rows)} detections -> {out}")


def _version(dist: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(dist)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


def compare_boxes(a: np.ndarray, b: np.ndarray, n_images: int) -> dict:
    """Per image, match each box of `a` to its best-IoU box of `b`: counts, IoUs, score differences."""
    ious, dscore, count_diff = [], [], 0
    for k in range(n_images):
        ra, rb = a[a[:, 0] == k], b[b[:, 0] == k]
        count_diff += int(len(ra) != len(rb))
        for row in ra:
            if len(rb):
                j = int(np.argmax([_iou(row[1:5], r[1:5]) for r in rb]))
                ious.append(_iou(row[1:5], rb[j, 1:5]))
                dscore.append(abs(row[5] - rb[j, 5]))
    return {"boxes": [len(a), len(b)], "images_with_other_count": count_diff,
            "iou_min": round(min(ious), 4) if ious else None, "iou_mean": round(float(np.mean(ious)), 4) if ious else None,
            "score_abs_diff_max": round(max(dscore), 4) if dscore else None}


def report(x_path: Path, y_path: Path, out: Path) -> dict:
    x, y = np.load(x_path), np.load(y_path)
    mx, my = json.loads(str(x["meta"])), json.loads(str(y["meta"]))
    if list(x["names"]) != list(y["names"]):
        sys.exit("arch_compare: the two dumps are of different faces")
    if mx.get("classifier") != my.get("classifier"):
        sys.exit(f"arch_compare: the two dumps ran different classifiers "
                 f"({mx.get('classifier')}, {my.get('classifier')})")
    px, py = x["probs"], y["probs"]
    truth = np.array([mx["labels"].index(n.split("/")[0]) for n in x["names"]])
    diff = np.abs(px - py)
    top_x, top_y = px.argmax(1), py.argmax(1)
    res = {
        "a": mx, "b": my,
        "faces": {"n": int(len(px)), "top1_agreement": round(float((top_x == top_y).mean()), 4),
                  "top1_disagreements": int((top_x != top_y).sum()),
                  "prob_abs_diff_max": round(float(diff.max()), 5), "prob_abs_diff_mean": round(float(diff.mean()), 6),
                  "identical_rows": int((diff.max(1) == 0).sum()),
                  "accuracy": [round(float((top_x == truth).mean()), 4), round(float((top_y == truth).mean()), 4)]},
        "detector": compare_boxes(x["det"], y["det"], mx["images"]),
        "recognizer": compare_boxes(x["rec"], y["rec"], mx["images"]),
    }
    if len(x["rec_probs"]) == len(y["rec_probs"]):
        d = np.abs(x["rec_probs"] - y["rec_probs"])
        res["recognizer"]["prob_abs_diff_max"] = round(float(d.max()), 5) if len(d) else None
        res["recognizer"]["emotion_agreement"] = round(float((x["rec_probs"].argmax(1) == y["rec_probs"].argmax(1)).mean()), 4)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    return res


def markdown(r: dict) -> str:
    a, b, f, d, c = r["a"], r["b"], r["faces"], r["detector"], r["recognizer"]
    env = lambda m: f"{m['machine']}, Python {m['python']}, numpy {m['numpy']}, OpenCV {m['opencv']}, LiteRT {m['litert']}"  # noqa: E731
    return "\n".join([
        f"# fer-edge answers: {a['machine']} against {b['machine']}", "",
        f"- A: {env(a)}", f"- B: {env(b)}", f"- classifier: {a.get('classifier', 'not recorded')}", "",
        "| check | A | B | difference |", "|---|---|---|---|",
        f"| INT8 classifier, {f['n']} FER2013 test faces: accuracy | {f['accuracy'][0]:.2%} | {f['accuracy'][1]:.2%} | "
        f"top-1 agreement {f['top1_agreement']:.2%} ({f['top1_disagreements']} faces differ); max abs probability "
        f"difference {f['prob_abs_diff_max']}, mean {f['prob_abs_diff_mean']}; {f['identical_rows']} of {f['n']} rows identical |",
        f"| BlazeFace detector, {a['images']} images: boxes | {d['boxes'][0]} | {d['boxes'][1]} | "
        f"{d['images_with_other_count']} images with another count; matched IoU min {d['iou_min']}, mean {d['iou_mean']}; "
        f"max score difference {d['score_abs_diff_max']} |",
        f"| recognizer (IMAGE mode), same images: faces | {c['boxes'][0]} | {c['boxes'][1]} | "
        f"{c['images_with_other_count']} images with another count; IoU min {c['iou_min']}, mean {c['iou_mean']}; "
        f"emotion agreement {c.get('emotion_agreement')}, max probability difference {c.get('prob_abs_diff_max')} |",
        "", f"Seconds (emulated time is not device time): A {a['seconds']}, B {b['seconds']}", ""])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--per-class", type=int, default=100)
    d.add_argument("--scenes", type=int, default=40)
    r = sub.add_parser("report")
    r.add_argument("a", type=Path)
    r.add_argument("b", type=Path)
    r.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "dump":
        dump(a.out, a.per_class, a.scenes)
    else:
        report(a.a, a.b, a.out)


if __name__ == "__main__":
    main()
