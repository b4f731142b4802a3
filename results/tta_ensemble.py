"""What trained models give at test time without more training: flip averaging, ensembles of several models and
a prior correction of the logits, on val/ (selection), test/ and the leak-free test faces (reported only).

Run from the repository root:
    python results/tta_ensemble.py --out results/campaign/tta_ensemble.json MODEL_OR_RUN [MODEL_OR_RUN ...]
A run folder stands for its val-picked weights (plain or EMA). results/edge-s/tta_ensemble.json holds run 2 with
run 4's seed-vgg; results/campaign/tta_ensemble.json the campaign's c1 and c6.
The prior correction adds tau * log(train count) to each class's log-probability: it undoes the 1/sqrt(count)
class weights the edge recipes train with when tau is 0.5; taus are scored, never picked on test.
"""
import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from fer_edge.training.campaign import Scorer
from fer_edge.training.data import load
from fer_edge.training.evaluate import load_predictor
from fer_edge.training.train import best_weights

ROOT = "../shared/datasets/fer2013"
TAUS = (0.125, 0.25, 0.5)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model files or run folders")
    ap.add_argument("--out", required=True, help="JSON to write")
    ap.add_argument("--data", default=ROOT)
    a = ap.parse_args(argv)
    sc = Scorer(a.data, None)
    paths = [best_weights(m) if Path(m).is_dir() else Path(m) for m in a.models]
    names = [p.parent.name.split("-")[0] if p.parent.name else p.stem for p in paths]
    probs = {}  # (name, split) -> probabilities of the plain plus the mirrored faces, and of the plain alone
    for name, path in zip(names, paths):
        model = load_predictor(path)
        for split, d in (("val", sc.val), ("test", sc.test)):
            plain = model.predict(d.x)
            probs[name, split] = plain, plain + model.predict(d.x[:, :, ::-1])
    counts = np.bincount(load(a.data, "train").y, minlength=7).astype(float)

    def score(label, f, cost):
        v, t = (f(s).argmax(1) == y for s, y in (("val", sc.val.y), ("test", sc.test.y)))
        row = {"approach": label, "classifier_runs": cost, "val": round(float(v.mean()), 4),
               "test": round(float(t.mean()), 4), "leak_free_test": round(float(t[sc.leak_free].mean()), 4)}
        print(f"{label:40s} x{cost}  val {row['val']:.4f}  test {row['test']:.4f}  "
              f"leak-free {row['leak_free_test']:.4f}")
        return row

    rows = []
    for name in names:
        rows.append(score(name, lambda s, n=name: probs[n, s][0], 1))
        rows.append(score(f"{name} + flip", lambda s, n=name: probs[n, s][1], 2))
        for tau in TAUS:
            rows.append(score(f"{name}, prior correction tau {tau}",
                              lambda s, n=name, t=tau: np.log(probs[n, s][0] + 1e-9) + t * np.log(counts), 1))
    for k in range(2, len(names) + 1):
        for group in itertools.combinations(names, k):
            rows.append(score(" + ".join(group), lambda s, g=group: sum(probs[n, s][0] for n in g), k))
            rows.append(score(" + ".join(group) + ", flips", lambda s, g=group: sum(probs[n, s][1] for n in g), 2 * k))
    out = {"models": {n: str(p) for n, p in zip(names, paths)}, "data": a.data, "leak_free_n": int(sc.leak_free.sum()),
           "rows": rows}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
