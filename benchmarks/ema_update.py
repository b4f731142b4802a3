"""Cost of one EMA update (run after every training batch) under JAX: op by op against the compiled update.

The op-by-op form dispatches three array ops per weight; ``training.ema`` compiles the
whole update into one call. Both are timed on the same weights, interleaved (this VM is
noisy: read the ratio), and checked to give the same average.

    KERAS_BACKEND=jax python benchmarks/ema_update.py [--recipe edge-s] [--steps 200] [--rounds 3]
"""
import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="edge-s")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    import jax
    import jax.numpy as jnp
    import numpy as np

    from fer_edge.training import recipes
    from fer_edge.training.ema import _jax_update
    from fer_edge.training.train import build_model

    weights = build_model(recipes.get(a.recipe), 7).get_weights()
    live = [jnp.asarray(w, jnp.float32) + 0.01 for w in weights]

    def op_by_op(shadow, d):
        return [d * jnp.asarray(s) + (1.0 - d) * v.astype(jnp.float32) for s, v in zip(shadow, live)]

    def compiled(shadow, d):
        return _jax_update()(shadow, live, d)

    times = {"op by op": [], "compiled": []}
    out = {}
    for _ in range(a.rounds):
        for name, f in (("op by op", op_by_op), ("compiled", compiled)):
            s = jax.block_until_ready(f([np.array(w, np.float32) for w in weights], 0.5))  # warm, compile
            t = time.perf_counter()
            for _ in range(a.steps):
                s = f(s, 0.9)
            jax.block_until_ready(s)
            times[name].append((time.perf_counter() - t) / a.steps)
            out[name] = s
    diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(out["op by op"], out["compiled"]))
    best = {k: min(v) * 1e3 for k, v in times.items()}
    print(f"{a.recipe}: {len(weights)} weight arrays, {jax.devices()[0].platform}; ms per update (best of "
          f"{a.rounds}): op by op {best['op by op']:.2f}, compiled {best['compiled']:.2f}, "
          f"ratio {best['op by op'] / best['compiled']:.1f}x; max difference {diff:.1e}")


if __name__ == "__main__":
    main()
