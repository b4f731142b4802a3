"""The release layer, on top of training and converters: a run released as a tier (train -> convert -> parity
-> benchmark -> model card, :mod:`.tier`), the benchmarks, and the workstation verbs of ``fer-edge`` (:mod:`.cli`).

``python -m fer_edge.release RUN [--tier fast] --install`` releases a run.
"""
