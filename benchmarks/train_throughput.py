"""Training throughput (faces/s) of each feed against the in-memory-array ceiling, so a regression shows.

For each recipe, on the same real faces and the same compiled model, one epoch at a
time, round-robin (this VM is noisy: compare within a run):

- ``ceiling``: ``model.fit`` on one fixed, already-normalised array (no augmentation);
- ``feed``: what ``fer-edge train`` does now: :class:`training.feed.EpochFeed`
  (augmentation, class weights, normalisation of epoch e+1 in a background thread)
  and ``model.fit`` on the epoch's arrays; timed until the next epoch is ready, so
  the other paths never run beside its background thread;
- ``pydataset``: a ``keras.utils.PyDataset`` serving the same epoch arrays batch by batch
  (the hyper-parameter search's path; ``fer-edge train`` fed through one before the feed).

    python benchmarks/train_throughput.py [--data ../shared/datasets/fer2013] [--faces 4096]
        [--recipes edge-s,edge-xs] [--rounds 2] [--out benchmarks/results/train_throughput.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]


def measure(recipe_name: str, faces, labels, rounds: int, batch_size: int | None) -> dict:
    import keras

    from fer_edge.preprocessing import Preprocessing  # noqa: I001
    from fer_edge.training import recipes
    from fer_edge.training.augment import NONE
    from fer_edge.training.feed import EpochFeed, build_epoch
    from fer_edge.training.train import build_model, class_weights, compile_model, make_sequence
    from fer_edge.training.data import FaceData
    from fer_edge.training.schedules import cosine_lr

    r = recipes.get(recipe_name).with_overrides(batch_size=batch_size)
    spec = Preprocessing(size=r.size, color=r.color)

    def fresh():
        """One compiled model per path: switching one model between arrays and a PyDataset retraces its
        train function every time, which would be charged to whichever path comes next."""
        m = build_model(r, 7)
        compile_model(m, r, cosine_lr(r.lr, r.epochs))
        return m

    models = {"ceiling": fresh(), "feed": fresh(), "pydataset": fresh()}
    cw = class_weights(labels, 7, r.class_weight)
    cwa = np.array([cw[i] for i in range(7)], np.float32)
    fixed = build_epoch(faces, labels, 7, spec, 0, 0, class_weights=cwa)
    n_epochs = 1 + rounds
    feed = EpochFeed(lambda e: build_epoch(faces, labels, 7, spec, e, 0, augment=r.augment or NONE,
                                           class_weights=cwa), n_epochs + 1)
    seq = make_sequence(FaceData(faces, labels, tuple(str(i) for i in range(7)), [""] * len(labels)), spec,
                        r.batch_size, r.augment or NONE, 0, shuffle=True, class_weight=cw)

    def ceiling(e):
        models["ceiling"].fit(fixed.x, fixed.targets, sample_weight=fixed.weights, batch_size=r.batch_size,
                              shuffle=False, verbose=0)

    def fed(e):
        ep = feed[e]
        models["feed"].fit(ep.x, ep.targets, sample_weight=ep.weights, batch_size=r.batch_size, shuffle=False,
                           verbose=0)
        feed.wait()  # the part of the next epoch's build that did not overlap this fit is the feed's cost too

    def pyd(e):
        seq.epoch = e
        models["pydataset"].fit(seq, epochs=1, verbose=0)

    ceiling(0)  # warm-up: traces each model's train function; the feed's first epoch is built in the foreground
    fed(0)
    pyd(0)
    times = {"ceiling": [], "feed": [], "pydataset": []}
    for e in range(1, n_epochs):
        for name, fn in (("ceiling", ceiling), ("feed", fed), ("pydataset", pyd)):
            t = time.perf_counter()
            fn(e)
            times[name].append(time.perf_counter() - t)
    feed.close()
    rates = {k: round(len(labels) / float(np.median(v)), 1) for k, v in times.items()}
    return {"recipe": recipe_name, "batch_size": r.batch_size, "faces_per_epoch": int(len(labels)),
            "faces_per_s": rates, "feed_vs_ceiling": round(rates["feed"] / rates["ceiling"], 3),
            "pydataset_vs_ceiling": round(rates["pydataset"] / rates["ceiling"], 3),
            "backend": keras.backend.backend()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--faces", type=int, default=4096)
    ap.add_argument("--recipes", default="edge-s,edge-xs")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/train_throughput.json"))
    a = ap.parse_args(argv)

    import tensorflow as tf

    from fer_edge.sysinfo import machine
    from fer_edge.training.data import load, stratified_indices

    d = load(a.data, "train")
    idx = stratified_indices(d.y, a.faces, seed=0)
    rows = []
    for name in a.recipes.split(","):
        row = measure(name.strip(), d.x[idx], d.y[idx], a.rounds, a.batch_size)
        print(json.dumps(row), flush=True)
        rows.append(row)
    res = {"machine": machine(), "cpu_count": os.cpu_count(),
           "tf_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                          "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
           "rounds": a.rounds, "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    md = ["| recipe | batch | faces/s ceiling (arrays) | faces/s feed (fer-edge train) | faces/s PyDataset (search path) | "
          "feed / ceiling | PyDataset / ceiling |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["faces_per_s"]
        md.append(f"| {r['recipe']} | {r['batch_size']} | {f['ceiling']} | {f['feed']} | {f['pydataset']} | "
                  f"{r['feed_vs_ceiling']:.2f} | {r['pydataset_vs_ceiling']:.2f} |")
    out.with_suffix(".md").write_text(f"Training throughput, {res['machine']} (threads: TF defaults "
                                      f"{res['tf_threads']}), {a.faces} faces per epoch, median of {a.rounds}.\n\n"
                                      + "\n".join(md) + "\n")
    print("\n".join(md))
    return res


if __name__ == "__main__":
    main()
