"""Flip test-time averaging and a two-model ensemble, measured on val/ and test/ (float Keras models).

Run from the repository root: python results/tta_ensemble.py [EDGE_MODEL] [OTHER_MODEL]
Writes results/edge-s/tta_ensemble.json. OTHER_MODEL defaults to run 4's seed-vgg, which is not
committed: `fer-edge train --recipe seed-vgg --data ../shared/datasets/fer2013 --out runs/seed-vgg` makes it. Selection is on val/; test/ is reported only.
"""
import json
import sys
from pathlib import Path

from fer_edge.labels import ClassSet
from fer_edge.training.data import load
from fer_edge.training.evaluate import load_predictor

ROOT = "../shared/datasets/fer2013"
EDGE = sys.argv[1] if len(sys.argv) > 1 else "results/edge-s/model.keras"
OTHER = sys.argv[2] if len(sys.argv) > 2 else "runs/seed-vgg/model.keras"

def probs(path, faces):
    """Probabilities of the plain and the mirrored faces."""
    model = load_predictor(path)
    return model.predict(faces), model.predict(faces[:, :, ::-1])

res = {"edge": EDGE, "other": OTHER}
for split in ("val", "test"):
    d = load(ROOT, split, ClassSet.parse(None))
    (p, pf), (v, vf) = probs(EDGE, d.x), probs(OTHER, d.x)

    def acc(q):
        return round(float((q.argmax(1) == d.y).mean()) * 100, 2)

    res[split] = {"edge": acc(p), "edge+flip": acc(p + pf), "other": acc(v), "other+flip": acc(v + vf),
                  "edge+other": acc(p + v), "edge+other, flip": acc(p + pf + v + vf),
                  "0.7 edge + 0.3 other, flip": acc(0.7 * (p + pf) + 0.3 * (v + vf))}
Path("results/edge-s/tta_ensemble.json").write_text(json.dumps(res, indent=1))
print(json.dumps(res, indent=1))
