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


def test_a_card_lists_every_cpus_latency_as_the_model_carries_it():
    """The "Latency by CPU" section goes before the weaknesses, is rewritten (not added twice), and the shipped cards
    say what their models' metadata says."""
    from fer_edge.classifier import bundled_models
    from fer_edge.metadata import read_tflite_metadata
    from fer_edge.release.model_card import latency_section
    from fer_edge.sysinfo import latency_by_cpu

    rows = [{"cpu": "B (avx2)", "class": "no int8 dot product", "ratio": [3.3, 3.97]},
            {"cpu": "A (avx512_vnni)", "class": "int8 dot product", "ratio": [0.98, 0.98]}]
    card = "# m\n\n## Speed\n\nfast.\n\n## Known weaknesses\n\n- fear\n"
    once = latency_section(rows, card)
    assert once.index("## Speed") < once.index("## Latency by CPU") < once.index("## Known weaknesses")
    assert "| A (avx512_vnni) | yes | 0.98x |\n| B (avx2) | no | 3.30x - 3.97x (over runs) |" in once
    assert latency_section(rows[:1], once).count("## Latency by CPU") == 1
    assert "A (avx512_vnni)" not in latency_section(rows[:1], once)
    assert latency_section(rows, "# m\n").endswith("(over runs) |\n")
    for name, path in bundled_models().items():
        m = read_tflite_metadata(path.read_bytes(), name).metrics
        text = path.with_suffix(".md").read_text()
        assert len(latency_by_cpu(m)) >= 2, name
        for r in latency_by_cpu(m):
            assert f"| {r['cpu']} |" in text and f"{r['ratio'][0]:.2f}x" in text, (name, r)
