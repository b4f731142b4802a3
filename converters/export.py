"""``fer-edge convert``: one Keras model in, every requested TFLite format out, each checked.

Each format is one small step that times itself and ends in one line (file,
size, seconds); the parent's metadata goes into every output with the format,
the source model's hash and the calibration set's hash; the parity suite then
runs on held-out ``val/`` faces, never on the calibration images.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.metadata import ModelMetadata, read_keras_metadata
from fer_edge.preprocessing import normalize

from . import formats as F
from . import tflite as T
from fer_edge.training.tflite_metadata import record_metrics, with_metadata

from .calibration import training_faces
from .parity import Thresholds, run_parity


#: Fine-tuning epochs over the training faces, per format (``--finetune-epochs`` overrides): from the formats table.
FINETUNE_EPOCHS = {f.name: f.finetune_epochs for f in F.TABLE if f.finetune_epochs}
#: Share of the fine-tuning faces replaced by blends of two faces (see ``_finetune_data``).
MIXED_SHARE = 0.5


def _finetune_data(source, meta: ModelMetadata, limit: int | None, seed: int, teacher):
    """Augmented training faces with the float parent's probabilities as targets.

    Pruning and QAT fine-tune towards the parent's outputs (distillation), not the
    labels: what the parity suite asks of them is to agree with the parent.
    """
    from fer_edge.training.augment import Augment
    from fer_edge.training.data import stratified_indices

    d = training_faces(source, meta)
    if limit is not None and limit < len(d):
        d = d.subset(stratified_indices(d.y, limit, seed + 1))
    rng = np.random.default_rng(seed)
    x = normalize(Augment()(d.x, rng), meta.preprocessing)
    # blends of two faces put samples between the parent's training faces, where its decisions are close
    # calls: matching only the faces it was trained on left the pruned student 0.2 points further from it
    k = int(len(x) * MIXED_SHARE)
    a, b = rng.permutation(len(x))[:k], rng.permutation(len(x))[:k]
    lam = rng.uniform(0.0, 1.0, (k,) + (1,) * (x.ndim - 1)).astype(np.float32)
    x[a] = lam * x[a] + (1.0 - lam) * x[b]
    soft = np.concatenate([np.asarray(teacher(x[i:i + 256], training=False)) for i in range(0, len(x), 256)])
    return x, soft.astype(np.float32)


@dataclass
class _Job:
    """What every format's builder may need; the fine-tuning faces are loaded once, for the first that does."""

    model: object
    meta: ModelMetadata
    calibration: object
    cal_x: np.ndarray | None
    sparsity: float
    finetune_epochs: int | None
    finetune_limit: int | None
    seed: int
    verbose: int
    finetune: tuple | None = None


def build_float32(job: _Job, fmt: str):
    return T.to_float32(job.model), {}


def build_float16(job: _Job, fmt: str):
    return T.to_float16(job.model), {}


def build_dynamic(job: _Job, fmt: str):
    return T.to_dynamic(job.model), {}


def build_int8(job: _Job, fmt: str):
    return T.to_int8(job.model, job.cal_x, fmt), {}


def build_finetuned(job: _Job, fmt: str):
    """Pruning or QAT through tf_keras (:mod:`.tfmot_bridge`), then full integer."""
    from . import tfmot_bridge as B

    if job.finetune is None:  # one load of the training faces and one teacher pass serve both formats
        job.finetune = _finetune_data(job.calibration, job.meta, job.finetune_limit, job.seed, job.model)
    x, y = job.finetune
    epochs = job.finetune_epochs or F.get(fmt).finetune_epochs
    # a fresh copy per format (fine-tuning changes it); pruning ranks the batch-norm-folded weights,
    # QAT folds batch norm itself
    source_tf = B.to_tf_keras(job.model, fold_batch_norm=fmt == "pruned")
    B.check_bridge(job.model, source_tf, job.cal_x[:32])
    quant = {}
    if fmt == "pruned":
        tuned = B.prune(source_tf, x, y, sparsity=job.sparsity, epochs=epochs, seed=job.seed, verbose=job.verbose)
        quant["sparsity"] = round(B.sparsity_of(tuned), 4)
        quant["layer_sparsity"] = B.layer_sparsity(tuned)
    else:
        tuned = B.quantize_aware(source_tf, x, y, epochs=epochs, seed=job.seed, verbose=job.verbose)
    quant.update({"finetune_epochs": epochs, "finetune_images": int(len(x))})
    return T.to_int8(tuned, job.cal_x, fmt), quant


def convert(keras_path, formats, out_dir, *, calibration=None, parity_data=None, n_calibration: int = 300,
            sparsity: float = 0.2, finetune_epochs: int | None = None, finetune_limit: int | None = None,
            thresholds: Thresholds = Thresholds(), parity_limit: int | None = None, run_parity_suite: bool = True,
            seed: int = 0, log=print, verbose: int = 0) -> dict:
    """Convert ``keras_path`` to each of ``formats`` under ``out_dir``; returns the summary (also ``convert.json``).

    Pruning and QAT fine-tune on ``finetune_limit`` training faces (default: all) for
    ``finetune_epochs`` (default: :data:`FINETUNE_EPOCHS` per format); ``verbose`` is Keras's
    progress setting for those fine-tunes.
    """
    from fer_edge.training.evaluate import load_keras

    for fmt in formats:
        try:
            F.get(fmt)
        except ValueError as e:
            raise T.ConversionError(str(e)) from None
    if not formats:
        raise T.ConversionError("no format requested")
    keras_path = Path(keras_path)
    meta = read_keras_metadata(keras_path)
    model = load_keras(keras_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = {"file": keras_path.name, "sha256": T.sha256_file(keras_path)}
    needs_cal = [f for f in formats if F.get(f).calibration]
    cal_x = cal_hash = None
    if needs_cal:
        from .calibration import faces as calibration_faces
        if calibration is None:
            raise T.ConversionError("int8, pruned, qat and edgetpu need real calibration faces: pass --calibration")
        log(f"calibration: loading {n_calibration} faces from {calibration}")
        cal_u8 = calibration_faces(calibration, meta, n_calibration, seed)
        cal_x = normalize(cal_u8, meta.preprocessing)
        cal_hash = hashlib.sha256(cal_u8.tobytes()).hexdigest()
    if "edgetpu" in formats:
        problems = T.keras_edgetpu_problems(model)
        if problems:
            raise T.ConversionError("not Edge TPU compatible: " + "; ".join(problems))
    job = _Job(model, meta, calibration, cal_x, sparsity, finetune_epochs, finetune_limit, seed, verbose)
    written, summary = [], {"source": str(keras_path), "outputs": []}
    for fmt in formats:
        t0 = time.time()
        data, quant = globals()[F.get(fmt).builder](job, fmt)
        if F.get(fmt).calibration:
            desc = T.describe(data)
            quant.update({"calibration_sha256": cal_hash, "calibration_images": int(len(cal_x)),
                          "input": desc["input"]["quantization"], "output": desc["output"]["quantization"]})
        child = ModelMetadata.from_dict({**meta.to_dict(), "format": fmt, "source": source, "quantization": quant,
                                         "metrics": {f"parent_{k}": v for k, v in meta.metrics.items()}})
        data = with_metadata(data, child)
        path = out / f"{keras_path.stem}_{fmt}.tflite"
        path.write_bytes(data)
        info = {"format": fmt, "file": path.name, "bytes": len(data), "seconds": round(time.time() - t0, 1),
                "ops": T.describe(data)["ops"], **({"quantization": quant} if quant else {})}
        if fmt == "edgetpu":
            info["edgetpu_check"] = T.edgetpu_check(data)
            if not info["edgetpu_check"]["ok"]:
                raise T.ConversionError(f"{path.name}: not Edge TPU ready: unsupported ops "
                                        f"{info['edgetpu_check']['unsupported_ops']}, "
                                        f"{info['edgetpu_check']['float_tensors']} float tensors")
            comp = info["edgetpu_compiler"] = T.run_edgetpu_compiler(path, out, child)
            if comp["compiled"]:
                log(f"edgetpu: compiled {out / comp['file']} (metadata re-embedded): run it with --device usb")
            else:
                log(f"edgetpu: {comp['reason']}")
        log(f"{fmt}: converted in {info['seconds']} s")
        written.append(path)
        summary["outputs"].append(info)
    if run_parity_suite and written:
        from .calibration import is_labelled
        if parity_data is None and calibration is not None and is_labelled(calibration):
            parity_data = calibration
        if parity_data is None:
            log("parity: skipped: it needs labelled val/ faces (pass --data with a FER2013 root or CSV)")
        else:
            par = run_parity(keras_path, written, parity_data, "val", out, limit=parity_limit, thresholds=thresholds)
            summary["parity"] = par
            for path, r in zip(written, par["rows"]):
                record_metrics(path, {"val_accuracy": round(r["accuracy"], 4), "val_agreement": round(r["agreement"], 4)})
            for r in par["rows"]:
                log(f"parity {r['format']}: accuracy {r['accuracy']:.4f} (float {r['float_accuracy']:.4f}), "
                    f"agreement {100 * r['agreement']:.2f}% -> {'pass' if r['passed'] else 'FAIL ' + '; '.join(r['failures'])}")
    for info in summary["outputs"]:  # parity numbers went into the files' metadata: sizes as they are now
        info["bytes"] = (out / info["file"]).stat().st_size
        log(f"{info['format']}: {out / info['file']} {info['bytes'] / 1024:.1f} KB")
    (out / "convert.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary
