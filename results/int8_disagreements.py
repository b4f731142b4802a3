"""Where an INT8 model's top-1 answer leaves its float parent's, on all of val/.

Run from the repository root: python results/int8_disagreements.py KERAS_PARENT INT8_TFLITE [OUT_JSON]
Counts the disagreements that are exact ties in the INT8 output (softmax probabilities come out
in steps of 1/256, so two classes within one step read as equal) and the float margins of the rest.
"""
import json
import sys
from pathlib import Path

import numpy as np

from fer_edge.labels import ClassSet
from fer_edge.training.data import load
from fer_edge.training.evaluate import load_predictor

parent, int8 = sys.argv[1], sys.argv[2]
out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(int8).with_suffix(".disagreements.json")
d = load("../shared/datasets/fer2013", "val", ClassSet.parse(None))
pf, pq = load_predictor(parent).predict(d.x), load_predictor(int8).predict(d.x)
dis = pf.argmax(1) != pq.argmax(1)
q_top2 = np.sort(pq, 1)[:, -2:]
f_top2 = np.sort(pf, 1)[:, -2:]
f_margin = f_top2[:, 1] - f_top2[:, 0]
ties = np.isclose(q_top2[:, 0], q_top2[:, 1], atol=1e-6)
res = {"parent": parent, "int8": int8, "faces": int(len(d.y)), "agreement": round(float(1 - dis.mean()), 4),
       "disagreements": int(dis.sum()), "of_which_int8_ties": int((dis & ties).sum()),
       "of_which_float_margin_below_1_256": int((dis & (f_margin < 1 / 256)).sum()),
       "of_which_float_margin_below_0.05": int((dis & (f_margin < 0.05)).sum()),
       "int8_ties_in_all_faces": int(ties.sum()),
       "median_float_margin": {"disagreements": round(float(np.median(f_margin[dis])), 4) if dis.any() else None,
                               "all": round(float(np.median(f_margin)), 4)},
       "mean_abs_prob_diff": round(float(np.abs(pq - pf).mean()), 5)}
out.write_text(json.dumps(res, indent=1))
print(json.dumps(res, indent=1))
