"""A one-line description of this machine for results tables and benchmark reports."""
from __future__ import annotations

import os
import platform
from pathlib import Path

#: CPU features that move INT8 and float latency by several times between machines of the same name: an "AMD EPYC"
#: with avx512_vnni ran edge-s INT8 at 0.47x the fer model's latency, one without it at 2.09x.
SIMD_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8",  # x86-64 ("flags")
                 "asimd", "asimddp", "i8mm", "sve")  # aarch64 ("Features": asimddp is the int8 dot product)


#: the CPU classes a latency ratio is given for: int8 dot products or not (a Raspberry Pi 4 is "no dot product")
CPU_CLASSES = {"int8 dot product": "AVX-512 VNNI, AVX-VNNI or Arm's asimddp",
               "no int8 dot product": "AVX2 only, or a Cortex-A72 such as a Raspberry Pi 4's"}


def _cpuinfo(cpuinfo: str | None) -> str:
    if cpuinfo is not None:
        return cpuinfo
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_class(cpuinfo: str | None = None) -> str:
    """This CPU's class for INT8 latency (:data:`CPU_CLASSES`): whether it has int8 dot-product instructions."""
    flags = set()
    for line in _cpuinfo(cpuinfo).splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("flags", "Features"):
            flags = set(value.split())
            break
    return "int8 dot product" if flags & {"avx512_vnni", "avx_vnni", "asimddp"} else "no int8 dot product"


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's name with the features that decide INT8 speed, e.g. ``AMD EPYC (avx2 avx512f avx512_vnni)``:
    what a latency ratio is true of."""
    return machine(cpuinfo).split(", ")[0]


def machine(cpuinfo: str | None = None) -> str:
    """``cpuinfo``: the text of /proc/cpuinfo (read here when None)."""
    cpuinfo = _cpuinfo(cpuinfo)
    name, features = None, None
    for line in cpuinfo.splitlines():  # the first core's lines stand for all
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and name is None:
            name = value
        elif key in ("flags", "Features") and features is None:
            features = [f for f in SIMD_FEATURES if f in set(value.split())]
    simd = f" ({' '.join(features)})" if features else ""
    return (f"{name or platform.processor() or platform.machine()}{simd}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.machine()}, Python {platform.python_version()}")


def latency_by_cpu(metrics: dict) -> list[dict]:
    """A model's measured latency ratios to the ``fer`` model, one per CPU (metadata ``metrics.latency_by_cpu``:
    ``{"cpu": cpu_model(), "class": cpu_class(), "ratio": [low, high]}``), with the older single
    ``latency_vs_fer`` / ``latency_machine`` pair (the release's own timing) standing for its machine: a ratio is
    true of a CPU, not of the model."""
    rows = [dict(r) for r in metrics.get("latency_by_cpu", [])]
    if "latency_vs_fer" in metrics:
        cpu = metrics.get("latency_machine") or "machine not recorded"
        rows = [{"cpu": cpu, "class": metrics.get("latency_cpu", cpu_class(cpu_flags_line(cpu))),
                 "ratio": [metrics["latency_vs_fer"]] * 2}] + [r for r in rows if r["cpu"] != cpu]
    return rows


def with_latency(metrics: dict, ratio_low: float, ratio_high: float, cpu: str | None = None) -> list[dict]:
    """``metrics.latency_by_cpu`` with this CPU's (or ``cpu``'s: a :func:`cpu_model` string, whose features give its
    class) ratio range put in place of any earlier one."""
    cpu = cpu or cpu_model()
    rows = [r for r in latency_by_cpu(metrics) if r["cpu"] != cpu]
    return rows + [{"cpu": cpu, "class": cpu_class(cpu_flags_line(cpu)),
                    "ratio": [round(ratio_low, 2), round(ratio_high, 2)]}]


def ratio_text(ratio, dash: str = "-") -> str:
    """``[low, high]`` as ``0.98x`` (one figure) or ``3.30-3.97x`` (a range over runs)."""
    lo, hi = ratio
    return f"{lo:.2f}x" if lo == hi else f"{lo:.2f}{dash}{hi:.2f}x"


def describe_latency(rows: list[dict]) -> str:
    """``0.98x on AMD EPYC (...), 3.30-3.97x on AVX2-only x86 (...)``: every CPU's ratio, cheapest first."""
    return ", ".join(f"{ratio_text(r['ratio'])} on {r['cpu']}" for r in sorted(rows, key=lambda r: r["ratio"][0]))


def cpu_flags_line(cpu: str) -> str:
    """A cpuinfo ``flags`` line from a :func:`cpu_model` string's features in brackets (for :func:`cpu_class`)."""
    inside = cpu.rpartition("(")[2].rstrip(")") if "(" in cpu else ""
    return f"flags : {inside}"
