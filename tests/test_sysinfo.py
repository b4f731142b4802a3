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
