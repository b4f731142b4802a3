"""How the shipped tiers were chosen, on `val/` alone: each candidate net's float accuracy with the blur widths
the release offers, one view and mirror-averaged, and every ensemble of the edge-s candidates.

    python benchmarks/tier_choices.py [--data ../shared/datasets/fer2013] [--out benchmarks/results/tier_choices]

Each run's weights are the ones the release takes (``best_weights``: picked on `val/`). `test/` is not read.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "results" / "campaign"
SINGLE = ("c3-edge-xs-e120-kd",)  # the fast tier's candidate: one view (mirror averaging would double its MACs)
MIRRORED = ("c1-edge-s-e120", "c6-edge-s-e120-kd-teacher", "c9-edge-s-stable-ft16", "c10-edge-s-consistency-ft10",
            "c11-edge-s-antialias-ft16", "c12-edge-s-antialias-consistency-ft10",
            "c13-edge-s-antialias-consistency2-ft10")
ENSEMBLE = MIRRORED[:4]  # the accurate tier's candidates (max-pooled edge-s runs)
SIGMAS = (0.0, 0.5, 0.6, 0.7)


def main(argv=None) -> dict:
    import numpy as np

    from fer_edge.metadata import read_keras_metadata
    from fer_edge.preprocessing import normalize
    from fer_edge.sysinfo import machine
    from fer_edge.training.architectures import averaged
    from fer_edge.training.data import load
    from fer_edge.training.evaluate import load_keras
    from fer_edge.training.train import best_weights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tier_choices")
    a = ap.parse_args(argv)
    val = load(a.data, "val")
    probs, rows = {}, []
    for run in SINGLE + MIRRORED:
        path = best_weights(CAMPAIGN / run)
        net, spec = load_keras(path), read_keras_metadata(path).preprocessing
        x = normalize(val.x, spec)
        for s in SIGMAS:
            p = np.asarray(averaged([net], mirror=run in MIRRORED, blur=s).predict(x, batch_size=512, verbose=0))
            probs[run, s] = p
            rows.append({"run": run, "weights": path.name, "mirror": run in MIRRORED, "blur": s,
                         "val": float((p.argmax(1) == val.y).mean())})
        print(f"tier_choices: {run} " + " ".join(f"{r['blur']:g}:{100 * r['val']:.2f}" for r in rows[-len(SIGMAS):]),
              flush=True)
    ensembles = []
    for s in SIGMAS:
        for k in range(2, len(ENSEMBLE) + 1):
            for members in itertools.combinations(ENSEMBLE, k):
                p = np.mean([probs[m, s] for m in members], axis=0)
                ensembles.append({"members": list(members), "blur": s, "val": float((p.argmax(1) == val.y).mean())})
    ensembles.sort(key=lambda e: -e["val"])
    res = {"machine": machine(), "val_faces": len(val), "nets": rows, "ensembles": ensembles}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    short = lambda r: r.split("-")[0]  # noqa: E731
    lines = [f"# How the tiers were chosen (`val/` only)\n\n`python benchmarks/tier_choices.py` on {res['machine']}: "
             f"float accuracy on all {len(val)} `val/` faces of each run's val-picked weights, blurred by each width "
             "inside the graph (one view for the fast tier's candidate, mirror-averaged for the rest), and the best "
             "ensembles of c1, c6, c9 and c10 (mirror-averaged, one blur for all).\n",
             "| run | weights | views | " + " | ".join(f"blur {s:g} px" for s in SIGMAS) + " |",
             "|---|---|---|" + "---|" * len(SIGMAS)]
    for run in SINGLE + MIRRORED:
        mine = [r for r in rows if r["run"] == run]
        best = max(mine, key=lambda r: r["val"])
        cells = [f"**{100 * r['val']:.2f}%**" if r is best else f"{100 * r['val']:.2f}%" for r in mine]
        lines.append(f"| {run} | {mine[0]['weights']} | {'face + mirror' if mine[0]['mirror'] else 'face'} | "
                     + " | ".join(cells) + " |")
    lines += ["", "| ensemble | blur | val |", "|---|---|---|"]
    lines += [f"| {' + '.join(map(short, e['members']))} | {e['blur']:g} px | {100 * e['val']:.2f}% |"
              for e in ensembles[:8]]
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return res


if __name__ == "__main__":
    main()
