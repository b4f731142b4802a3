"""A training campaign that survives interruptions: a committed plan, a resumable runner, an automatic results table.

``results/campaign/plan.json`` lists runs in priority order (recipe, arguments,
purpose). :func:`run_campaign` trains the first unfinished run, resuming its
checkpoint (kept outside the work tree, in :func:`default_runs_dir`, so a fresh
checkout on the same machine goes on), stops cleanly before a
wall-clock deadline, evaluates the best epoch on ``val/``, ``test/`` and the
leak-free test faces, and appends one row per segment to the committed
ledger (``results/campaign/ledger.json``) and the table in ``results/README.md``.
A segment that ends before its run does also writes the run's resume state
(weights, optimizer, EMA, history, best weights so far) into
``results/campaign/<run>/resume/``: committed with the ledger, it lets another
machine go on where this one stopped, losing no epoch. A run whose ledger says it
made progress but whose checkpoint is gone everywhere restarts from epoch 0, and
its row says so.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_edge.sysinfo import machine

from .metrics import accuracy
from .train import _epochs_logged

MODEL_FILES = ("model.keras", "model_ema.keras")  # a run's plain and EMA weights, in that order

def _repo() -> Path:
    """The checkout that holds the plan: the current folder or one above it (an installed, non-editable
    package lives in site-packages, away from results/), else the source tree this module sits in."""
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "results" / "campaign" / "plan.json").is_file():
            return d
    return Path(__file__).resolve().parents[1]


REPO = _repo()
PLAN = REPO / "results" / "campaign" / "plan.json"
TABLE_BEGIN, TABLE_END = "<!-- campaign table: begin (written by fer-edge campaign) -->", "<!-- campaign table: end -->"
#: Files of a finished run that are small enough to commit (no checkpoints, no optimizer state).
KEEP = ("model.keras", "model_ema.keras", "train.json", "history.csv", "best.json", "best_ema.json",
        "probs.npz")  # probs.npz: a teacher's train/val probabilities (distill.write_teacher_cache), its cache for distillation
KEEP_MAX_BYTES = 4 << 20  # edge models are ~1 MB; a GPU teacher (45 MB) stays in its run folder
#: What an unfinished run needs to go on elsewhere (``backup/`` holds weights, optimizer and EMA state).
RESUME_FILES = ("backup/checkpoint.npz", "history.csv", "best.json", "best_ema.json", *MODEL_FILES)
RESUME_DIR = "resume"


class CampaignError(ValueError):
    """The plan or ledger cannot be used (missing, malformed, an unknown recipe)."""


@dataclass
class PlannedRun:
    name: str
    recipe: str
    args: dict = field(default_factory=dict)
    purpose: str = ""
    device: str = "cpu"  # "gpu": trained on a GPU machine and recorded with record_run, never by the runner

    def train_args(self) -> dict:
        """Keyword arguments for :func:`.train.train`: the plan's ``args``, teacher paths made absolute (the plan
        names them from the repository root)."""
        args = dict(self.args)
        if args.get("teachers"):
            args["teachers"] = [str(REPO / t) for t in args["teachers"]]
        return args


@dataclass
class Campaign:
    plan_path: Path
    runs: list[PlannedRun]
    data: str | None
    ledger_path: Path
    results_md: Path

    @classmethod
    def load(cls, plan_path=PLAN) -> "Campaign":
        from . import recipes

        plan_path = Path(plan_path)
        if not plan_path.is_file():
            raise CampaignError(f"no campaign plan at {plan_path}")
        try:
            doc = json.loads(plan_path.read_text())
            runs = [PlannedRun(r["name"], r["recipe"], dict(r.get("args", {})), r.get("purpose", ""),
                               r.get("device", "cpu")) for r in doc["runs"]]
        except (ValueError, KeyError, TypeError) as e:
            raise CampaignError(f"{plan_path}: not a campaign plan ({type(e).__name__}: {e})") from None
        names = [r.name for r in runs]
        if len(set(names)) != len(names):
            raise CampaignError(f"{plan_path}: run names repeat: {names}")
        for r in runs:
            if r.device not in ("cpu", "gpu"):
                raise CampaignError(f"{plan_path}: run {r.name}: device must be cpu or gpu, got {r.device!r}")
            try:
                recipes.get(r.recipe)
            except KeyError as e:
                raise CampaignError(f"{plan_path}: run {r.name}: {e.args[0]}") from None
        root = plan_path.parent
        return cls(plan_path, runs, doc.get("data"), root / doc.get("ledger", "ledger.json"),
                   (root / doc.get("results_md", "../README.md")).resolve())

    def ledger(self) -> dict:
        return json.loads(self.ledger_path.read_text()) if self.ledger_path.exists() else {"runs": {}}

    def save_ledger(self, ledger: dict) -> None:
        tmp = self.ledger_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ledger, indent=1) + "\n")
        tmp.replace(self.ledger_path)

    def save_run(self, name: str, state: dict) -> dict:
        """Write run ``name``'s ledger entry into the ledger as it is on disk now, under a file lock, and return
        that ledger: two runners training different runs (``--run``) each keep the other's records."""
        import fcntl

        with open(self.ledger_path.with_suffix(".lock"), "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            ledger = self.ledger()
            ledger["runs"][name] = state
            self.save_ledger(ledger)
        return ledger

    def next_run(self, ledger: dict, skip=()) -> PlannedRun | None:
        for r in self.runs:
            if r.device == "cpu" and r.name not in skip and not ledger["runs"].get(r.name, {}).get("complete"):
                return r
        return None

    def run(self, name: str) -> PlannedRun:
        for r in self.runs:
            if r.name == name:
                return r
        raise CampaignError(f"no run {name!r} in {self.plan_path} (runs: {', '.join(r.name for r in self.runs)})")

    def resolve_data(self, data=None) -> str:
        """``data`` if given, else ``$FER2013_ROOT``, else the plan's ``data`` (relative to the repository)."""
        cand = data or os.environ.get("FER2013_ROOT") or (str((REPO / self.data).resolve()) if self.data else None)
        if not cand or not Path(cand).exists():
            raise CampaignError(f"training data not found ({cand or 'none given'}): pass --data or set FER2013_ROOT")
        return cand


def leak_free_mask(test_x: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """True for test faces with no pixel-identical copy in ``others`` (train, val)."""
    from .data import pixel_hash

    seen = {pixel_hash(im) for arr in others for im in arr}
    return np.array([pixel_hash(im) not in seen for im in test_x], bool)


class Scorer:
    """val, test and leak-free test accuracy of a model file; the data loaded once per campaign call."""

    def __init__(self, data, classes):
        from fer_edge.labels import ClassSet

        from .data import load

        cs = ClassSet.parse(classes)
        self.val, self.test = load(data, "val", cs), load(data, "test", cs)
        self.leak_free = leak_free_mask(self.test.x, load(data, "train", cs).x, self.val.x)

    def score(self, model_path, test_probs: np.ndarray | None = None, val_accuracy: float | None = None) -> dict:
        """``test_probs`` (the model's predictions on ``self.test``) and ``val_accuracy`` (on all of ``self.val``):
        what the caller has measured already, so neither split is predicted twice."""
        from .evaluate import load_predictor

        p = load_predictor(model_path) if val_accuracy is None or test_probs is None else None  # only to predict
        val = accuracy(self.val.y, p.predict(self.val.x)) if val_accuracy is None else val_accuracy
        test = p.predict(self.test.x) if test_probs is None else test_probs
        return {"val": round(val, 4), "test": round(accuracy(self.test.y, test), 4),
                "leak_free_test": round(accuracy(self.test.y, test, self.leak_free), 4),
                "leak_free_n": int(self.leak_free.sum())}


def default_runs_dir() -> Path:
    """``$FER_EDGE_CAMPAIGN_DIR``, else ``~/.cache/fer-edge/campaign``: checkpoints survive a new work tree."""
    import os

    env = os.environ.get("FER_EDGE_CAMPAIGN_DIR")
    return Path(env) if env else Path.home() / ".cache" / "fer-edge" / "campaign"


def run_campaign(plan_path=PLAN, *, data=None, runs_dir=None, budget_s: float, reserve_s: float = 300.0,
                 log=print, train_fn=None, only: str | None = None) -> list[dict]:
    """Train the plan's runs in order until ``budget_s`` seconds from now; returns the segments recorded.

    ``only`` trains that run alone (a CPU run of the plan), beside a runner that goes through the plan: each run
    is held by one runner at a time (``NAME.lock`` in ``runs_dir``), the plan's runner skips a run held by another,
    and ledger writes merge. ``reserve_s`` of the budget is kept for evaluating and writing the results.
    ``train_fn`` replaces :func:`.train.train` (tests).
    """
    from .train import train

    train_fn = train_fn or train
    camp = Campaign.load(plan_path)
    data = camp.resolve_data(data)
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    runs_dir.mkdir(parents=True, exist_ok=True)
    if only:
        run = camp.run(only)
        if run.device != "cpu":
            raise CampaignError(f"run {only} is planned for a {run.device.upper()} machine: train it there and record "
                                "it with --record")
        if camp.ledger()["runs"].get(only, {}).get("complete"):
            raise CampaignError(f"run {only} is already complete in {camp.ledger_path}")
    lock = runs_dir / "campaign.lock"
    if not only:
        if _holder(lock):
            raise CampaignError(f"another campaign runner is active (pid {_holder(lock)}, {lock})")
        lock.write_text(str(os.getpid()))
    t_end = time.time() + budget_s
    segments, scorers = [], {}
    try:
        while True:
            ledger = camp.ledger()
            if only:
                run = camp.run(only)
            else:
                held = [r.name for r in camp.runs if _holder(runs_dir / f"{r.name}.lock")]
                run = camp.next_run(ledger, skip=held)
            if run is None:
                log("campaign: every planned run is complete or held by another runner")
                break
            if time.time() + reserve_s + 60 > t_end:
                log("campaign: budget spent")
                break
            run_lock = runs_dir / f"{run.name}.lock"
            if _holder(run_lock):
                raise CampaignError(f"run {run.name} is being trained by another runner (pid {_holder(run_lock)})")
            run_lock.write_text(str(os.getpid()))
            try:
                seg = _run_segment(camp, run, ledger, data, runs_dir / run.name, t_end - reserve_s, train_fn,
                                   scorers, log)
            finally:
                run_lock.unlink(missing_ok=True)
            segments.append(seg)
            if not seg["complete"] or only:
                break
    finally:
        if not only:
            lock.unlink(missing_ok=True)
    return segments


def _holder(lock: Path) -> int:
    """The pid of the live process that holds ``lock`` (0: none; a lock left by a dead process counts as none)."""
    try:
        pid = int(lock.read_text() or 0)
    except (OSError, ValueError):
        return 0
    return pid if _alive(pid) else 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _run_segment(camp: Campaign, run: PlannedRun, ledger: dict, data, out: Path, deadline: float, train_fn,
                 scorers: dict, log) -> dict:
    state = ledger["runs"].setdefault(run.name, {"recipe": run.recipe, "args": run.args, "segments": []})
    done_before = state.get("epochs_done", 0)
    committed = camp.plan_path.parent / run.name / RESUME_DIR
    from_committed = _take_committed_resume(committed, out)
    has_ckpt = (out / "backup" / "checkpoint.npz").exists()
    note = ""
    if done_before and not has_ckpt:
        note = f"checkpoint lost after {done_before} epochs: restarted from epoch 0; "
        shutil.rmtree(out, ignore_errors=True)
    resume = (out / "history.csv").exists()
    start_epochs = _epochs_logged(out)
    if has_ckpt and start_epochs < done_before and from_committed:  # the committed state is older than the ledger
        note = (f"resumed from the committed state at epoch {start_epochs}: the {done_before - start_epochs} "
                "epochs recorded after it were trained again; ")
    elif has_ckpt and start_epochs < done_before:  # a restart on a new machine, stopped before it was recorded
        note = (f"checkpoint lost after {done_before} epochs: restarted from epoch 0, this checkpoint holds "
                f"{start_epochs} of them; ")
    elif from_committed:
        note = f"resumed at epoch {start_epochs} from the committed resume state; "
    log(f"campaign: {run.name} ({run.recipe}, {run.args}) from epoch {start_epochs}, "
        f"{(deadline - time.time()) / 60:.0f} min to its deadline")
    t0 = time.time()
    s = train_fn(run.recipe, data, out, resume=resume, deadline=deadline, **run.train_args())
    hours = (time.time() - t0) / 3600
    epochs_now = s["epochs_run"]
    seg = {"date": dt.date.today().isoformat(), "epochs_from": start_epochs, "epochs_to": epochs_now,
           "epochs_total": s["epochs"], "hours": round(hours, 2), "machine": _machine_line(s),
           "complete": bool(s["complete"]), "note": note}
    if seg["complete"]:
        shutil.rmtree(committed, ignore_errors=True)
    elif epochs_now:
        _commit_resume(out, committed)
        seg["note"] += f"resume state kept in {run.name}/{RESUME_DIR}/ beside the plan; "
    _record(camp, run, ledger, state, seg, s, out, data, scorers, runs_dir=out.parent)
    log(f"campaign: {run.name} recorded: epochs {start_epochs} -> {epochs_now} of {s['epochs']}, "
        f"{hours:.2f} h, best {seg.get('best')}")
    return seg


def _commit_resume(out: Path, dest: Path) -> None:
    """Copy what ``out`` needs to go on (:data:`RESUME_FILES`) into ``dest``, replacing it whole; the model files
    without their optimizer state (the checkpoint has it), so a block adds a few MB to the repository."""
    import zipfile

    from .train import slim_model_file

    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for f in RESUME_FILES:
        if (out / f).exists():
            (tmp / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out / f, tmp / f)
            if f.endswith(".keras") and zipfile.is_zipfile(tmp / f):
                slim_model_file(tmp / f)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.replace(dest)


def _take_committed_resume(committed: Path, out: Path) -> bool:
    """Start ``out`` from the committed resume state when it holds more epochs than ``out`` (a new machine, or
    one whose own checkpoint is older); the folder is replaced, never merged. Returns whether it was taken."""
    if not (committed / "backup" / "checkpoint.npz").exists():
        return False
    if _epochs_logged(out) >= _epochs_logged(committed):  # a finished but unrecorded run has no checkpoint left
        return False
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(committed, out)
    return True


def _record(camp: Campaign, run: PlannedRun, ledger: dict, state: dict, seg: dict, summary: dict, out: Path,
            data, scorers: dict, runs_dir: Path | None = None) -> None:
    """Score the run's best epochs, append ``seg`` to its ledger entry, keep a finished run's small files and
    rewrite the ledger and the results table."""
    if summary.get("fit_val") and "val/ is trained on" not in seg["note"]:
        seg["note"] += "val/ is trained on (fit_val): its val columns are not held-out scores; "
    classes = summary.get("classes")
    key = ",".join(classes) if classes else ""
    for col, model, best in zip(("best", "best_ema"), MODEL_FILES, ("best.json", "best_ema.json")):
        if seg["epochs_to"] and (out / model).exists() and (out / best).exists():  # a device folder may hold one
            if key not in scorers:
                scorers[key] = Scorer(data, key or None)
            seg[col] = {**json.loads((out / best).read_text()), **scorers[key].score(out / model)}
    state["segments"].append(seg)
    state["epochs_done"] = seg["epochs_to"]
    state["hours"] = round(sum(g["hours"] for g in state["segments"]), 2)
    state["complete"] = seg["complete"]
    if seg["complete"]:
        keep = camp.plan_path.parent / run.name
        keep.mkdir(parents=True, exist_ok=True)
        from .evaluate import plot_history
        for f in KEEP:
            if (out / f).exists() and (out / f).stat().st_size <= KEEP_MAX_BYTES:
                shutil.copy2(out / f, keep / f)
            elif (out / f).exists():
                seg["note"] += f"{f} too big to commit, left in {_home_relative(out)}; "
        plot_history(out / "history.csv", keep / "history.png")
    ledger = camp.save_run(run.name, state)
    write_table(camp, ledger, runs_dir)


def record_run(name: str, run_dir, *, plan_path=PLAN, data=None, hours: float | None = None, note: str = "",
               log=print) -> dict:
    """Record a run of the plan that was trained elsewhere (a ``"device": "gpu"`` run, on a GPU machine)
    from its run folder: scored here on val, test and leak-free test like the runner's own segments.

    ``hours`` is the training time to book (default: the folder's last call, ``seconds_this_call``).
    """
    camp = Campaign.load(plan_path)
    run = camp.run(name)
    run_dir = Path(run_dir)
    for f in ("train.json", "best.json", "history.csv"):
        if not (run_dir / f).is_file():
            raise CampaignError(f"{run_dir} is not a finished run folder: no {f}")
    if not any((run_dir / f).is_file() for f in MODEL_FILES):
        raise CampaignError(f"{run_dir} is not a finished run folder: no model.keras or model_ema.keras in it")
    s = json.loads((run_dir / "train.json").read_text())
    if s.get("recipe") != run.recipe:
        raise CampaignError(f"{run_dir} trained recipe {s.get('recipe')!r}; run {name} plans {run.recipe!r}")
    for key in ("epochs", "mixup", "ema"):
        if key in run.args and s.get(key) != run.args[key]:
            raise CampaignError(f"{run_dir} trained with {key}={s.get(key)!r}; run {name} plans {run.args[key]!r}")
    if "classes" in run.args:
        from fer_edge.labels import ClassSet
        if list(ClassSet.parse(run.args["classes"]).names) != list(s.get("classes", [])):
            raise CampaignError(f"{run_dir} trained classes {s.get('classes')}; run {name} plans {run.args['classes']}")
    data = camp.resolve_data(data)
    lock = Path(default_runs_dir()) / f"{name}.lock"
    if _holder(lock):
        raise CampaignError(f"a campaign runner is training {name} (pid {_holder(lock)}); record when it has stopped")
    ledger = camp.ledger()
    state = ledger["runs"].setdefault(name, {"recipe": run.recipe, "args": run.args, "segments": []})
    if state.get("complete"):
        raise CampaignError(f"run {name} is already complete in {camp.ledger_path}")
    start = state.get("epochs_done", 0)
    restarted = ""
    if start and len(s.get("epoch_seconds") or []) == s["epochs_run"]:  # every epoch in this folder's last call
        start, restarted = 0, (f"restarted from epoch 0 (the {state['epochs_done']} epochs recorded before did not "
                               "outlive their device machine); ")
    elif s["epochs_run"] <= start:
        raise CampaignError(f"{run_dir} ran {s['epochs_run']} epochs; the ledger already has {start}")
    hours = s.get("seconds_this_call", 0.0) / 3600 if hours is None else hours
    seg = {"date": dt.date.today().isoformat(), "epochs_from": start, "epochs_to": s["epochs_run"],
           "epochs_total": s["epochs"], "hours": round(hours, 2),
           "machine": f"{s.get('machine', 'unknown machine')}, {s.get('backend', '?')} backend",
           "complete": bool(s["complete"]), "note": (note.rstrip("; ") + "; " if note else "") + restarted
           + f"recorded from {_home_relative(run_dir)}; "}
    _record(camp, run, ledger, state, seg, s, run_dir, data, {})
    log(f"campaign: {name} recorded from {run_dir}: epochs {start} -> {s['epochs_run']} of {s['epochs']}, "
        f"best {seg.get('best')}, EMA {seg.get('best_ema')}")
    return seg


def _home_relative(path: Path) -> str:
    """``~/...`` for a folder under the home directory (the ledger is committed; home paths differ)."""
    path = Path(path).resolve()
    try:
        return "~/" + str(path.relative_to(Path.home().resolve()))
    except ValueError:
        return str(path)


def _machine_line(summary: dict) -> str:
    return f"{machine()}, {summary.get('backend', '?')} backend"


def _pct(d: dict | None, key: str) -> str:
    return f"{100 * d[key]:.2f}%" if d and d.get(key) is not None else "-"


def table(camp: Campaign, ledger: dict) -> str:
    """Markdown: one row per recorded segment, in plan order, then runs not started yet."""
    rows = ["| run | date | recipe and arguments | epochs (this segment) | hours | machine | best val (epoch) | "
            "EMA val (epoch) | test | leak-free test | outcome |", "|---" * 11 + "|"]
    for r in camp.runs:
        st = ledger["runs"].get(r.name)
        args = ", ".join(f"{k}={v}" for k, v in r.args.items())
        for g in (st or {}).get("segments", []):
            b, e = g.get("best"), g.get("best_ema")
            best = f"{_pct(b, 'val')} ({b['epoch']})" if b else "-"
            ema = f"{_pct(e, 'val')} ({e['epoch']})" if e else "-"
            pick = e if e and (not b or e["val"] > b["val"]) else b
            outcome = g["note"] + ("complete" if g["complete"] else f"stopped at {g['epochs_to']} of "
                                   f"{g['epochs_total']} (budget); resumes")
            rows.append(f"| {r.name} | {g['date']} | {r.recipe} {args} | {g['epochs_from']} -> {g['epochs_to']} of "
                        f"{g['epochs_total']} | {g['hours']:.2f} | {g['machine']} | {best} | {ema} | "
                        f"{_pct(pick, 'test')} | {_pct(pick, 'leak_free_test')} | {outcome} |")
        if not st:
            rows.append(f"| {r.name} | - | {r.recipe} {args} | not started | - | - | - | - | - | - | "
                        f"planned: {r.purpose} |")
    total = sum(st.get("hours", 0) for st in ledger["runs"].values())
    return "\n".join(rows) + f"\n\nCampaign hours recorded: {total:.2f}. Test columns are for the better of the " \
                             "plain and EMA weights on val (selection on val; test reported only)."


def _val_curve(history_csv: Path) -> tuple[list[int], list[float]]:
    """Epochs and the better of plain and EMA val accuracy at each (what the run would pick if it ended there)."""
    import csv

    rows = list(csv.DictReader(history_csv.open()))
    best = [max(float(r["val_accuracy"]), float(r.get("val_ema_accuracy") or 0.0)) for r in rows]
    return [int(r["epoch"]) + 1 for r in rows], best


def plot_progress(camp: Campaign, ledger: dict, runs_dir: Path | None = None) -> Path | None:
    """``progress.png`` beside the plan: val accuracy by epoch of every recorded run (its history from the
    checkpoint folder while it trains, from its committed folder once complete), the runs side by side."""
    curves = []
    for r in camp.runs:
        if r.name not in ledger["runs"]:
            continue
        for folder in (Path(runs_dir or default_runs_dir()) / r.name, camp.plan_path.parent / r.name):
            if (folder / "history.csv").is_file():
                curves.append((r, *_val_curve(folder / "history.csv")))
                break
    if not curves:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for r, ep, acc in curves:
        classes = r.args.get("classes")
        ax.plot(ep, [100 * a for a in acc], label=f"{r.name}" + (f" ({len(str(classes).split(','))} classes)"
                                                                  if classes else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel("val accuracy, better of plain and EMA (%)")
    ax.set_title("Training campaign: val accuracy by epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = camp.plan_path.parent / "progress.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_table(camp: Campaign, ledger: dict, runs_dir: Path | None = None) -> None:
    """Replace the campaign table (and its progress plot) between its markers in the results README (append the
    section if absent)."""
    import os

    md = camp.results_md
    text = md.read_text() if md.exists() else "# Training runs and results\n"
    png = plot_progress(camp, ledger, runs_dir)
    picture = f"\n\n![val accuracy by epoch]({Path(os.path.relpath(png, md.parent)).as_posix()})" if png else ""
    block = f"{TABLE_BEGIN}\n{table(camp, ledger)}{picture}\n{TABLE_END}"
    if TABLE_BEGIN in text and TABLE_END in text:
        a, b = text.index(TABLE_BEGIN), text.index(TABLE_END) + len(TABLE_END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n## Training campaign (issue 14)\n\n" + block + "\n"
    md.write_text(text)


def status(plan_path=PLAN) -> str:
    camp = Campaign.load(plan_path)
    return table(camp, camp.ledger())
