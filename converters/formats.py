"""Every TFLite format fer-edge writes, declared once (style: Ultralytics' export formats table).

The ``convert`` flags, the exporter's dispatch, the calibration and fine-tuning
policy, the parity thresholds each format is held to, the benchmark's file
filter and the table in ``docs/converters.md`` (checked by a test) all come from
:data:`TABLE`. No TensorFlow here: the CLI reads it before TensorFlow loads.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str
    flag: str                 # the `fer-edge convert` flag
    calibration: bool         # needs real calibration faces (full-integer formats)
    finetune_epochs: int      # default fine-tuning epochs on the training faces (0: none)
    parity: str               # thresholds it is held to: "float32", "float16" or "integer" (Thresholds.for_format)
    builder: str              # the function of converters.export that writes it
    what: str                 # one line for the help text and the docs

    @property
    def suffix(self) -> str:
        return f"_{self.name}.tflite"


TABLE: tuple[Format, ...] = (
    Format("float32", "--float32", False, 0, "float32", "build_float32", "the Keras graph, batch norm folded"),
    Format("float16", "--float16", False, 0, "float16", "build_float16", "float16 weights, float compute"),
    Format("dynamic", "--dynamic", False, 0, "integer", "build_dynamic",
           "int8 weights, float activations (no calibration)"),
    Format("int8", "--int8", True, 0, "integer", "build_int8",
           "full integer: int8 weights, activations, input and output, calibrated on real faces"),
    Format("pruned", "--prune", True, 3, "integer", "build_finetuned",
           "magnitude pruning to --sparsity with a distilled fine-tune, then int8"),
    Format("qat", "--qat", True, 2, "integer", "build_finetuned", "quantization-aware fine-tuning, then int8"),
    Format("edgetpu", "--edgetpu", True, 0, "integer", "build_int8",
           "int8 with Edge TPU ops only (checked), compiled by edgetpu_compiler when it is on PATH"),
)
BY_NAME = {f.name: f for f in TABLE}
FORMATS = tuple(f.name for f in TABLE)
INTEGER_FORMATS = tuple(f.name for f in TABLE if f.calibration)
FINETUNED = tuple(f.name for f in TABLE if f.finetune_epochs)
#: What edgetpu_compiler appends to its input's name: a device-only file, not a format to score on the CPU.
COMPILED_SUFFIX = "_edgetpu_edgetpu.tflite"


def get(name: str) -> Format:
    if name not in BY_NAME:
        import difflib

        close = difflib.get_close_matches(name, FORMATS, n=1)
        raise ValueError(f"unknown format {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; known: {', '.join(FORMATS)}")
    return BY_NAME[name]


def markdown_table() -> str:
    """The formats table of docs/converters.md."""
    rows = ["| format | flag | file | calibration | fine-tune epochs | parity thresholds | what it is |",
            "|---|---|---|---|---|---|---|"]
    for f in TABLE:
        rows.append(f"| {f.name} | `{f.flag}` | `*{f.suffix}` | {'yes' if f.calibration else 'no'} | "
                    f"{f.finetune_epochs or '-'} | {f.parity} | {f.what} |")
    return "\n".join(rows)
