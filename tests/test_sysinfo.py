"""The machine line of results tables names the CPU features that decide INT8 latency."""
from fer_edge.sysinfo import machine

X86 = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16
processor\t: 1
model name\t: Other
flags\t\t: fpu
"""
ARM = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes crc32 cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
"""


def test_machine_names_the_cpu_and_its_int8_relevant_features():
    assert machine(X86).startswith("AMD EPYC (avx2 avx512f avx512_vnni), ")
    line = machine(ARM)
    assert "(asimd asimddp), " in line and "Other" not in line
    assert "(" not in machine("model name\t: Plain CPU\nflags\t: fpu sse2\n").split(",")[0]


def test_a_latency_ratio_names_its_cpu_and_class():
    from fer_edge.sysinfo import cpu_class, cpu_model

    assert cpu_model(X86) == "AMD EPYC (avx2 avx512f avx512_vnni)"
    assert cpu_class(X86) == cpu_class(ARM) == "int8 dot product"
    assert cpu_class("model name\t: Pi 4\nFeatures\t: fp asimd crc32\n") == "no int8 dot product"
    assert cpu_class("flags\t: fpu avx avx2 fma\n") == "no int8 dot product"


def test_a_model_keeps_one_latency_ratio_per_cpu():
    """with_latency puts a CPU's ratio beside the others (replacing that CPU's older one); the release's own pair
    stands for its machine; describe_latency lists them cheapest first, a range where runs differed."""
    from fer_edge.sysinfo import describe_latency, latency_by_cpu, with_latency

    m = {"latency_vs_fer": 0.98, "latency_machine": "AMD EPYC (avx2 avx512f avx512_vnni)"}
    rows = with_latency(m, 3.3, 3.97, cpu="AVX2-only x86 (avx2)")
    assert [(r["cpu"], r["class"], r["ratio"]) for r in rows] == [
        ("AMD EPYC (avx2 avx512f avx512_vnni)", "int8 dot product", [0.98, 0.98]),
        ("AVX2-only x86 (avx2)", "no int8 dot product", [3.3, 3.97])]
    rows = with_latency({**m, "latency_by_cpu": rows}, 3.5, 3.5, cpu="AVX2-only x86 (avx2)")
    assert len(rows) == 2 and rows[1]["ratio"] == [3.5, 3.5]
    m2 = {**m, "latency_vs_fer": 1.31, "latency_by_cpu": rows}  # the release's pair wins for its machine
    assert describe_latency(latency_by_cpu(m2)) == ("1.31x on AMD EPYC (avx2 avx512f avx512_vnni), "
                                                    "3.50x on AVX2-only x86 (avx2)")
    assert describe_latency(with_latency({}, 1.11, 1.32, cpu="Pi 4 (asimd)")) == "1.11-1.32x on Pi 4 (asimd)"
    assert latency_by_cpu({}) == []
