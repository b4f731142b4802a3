#!/usr/bin/env bash
# The GPU-ready teacher job of issue 14: ResNet-18-style teacher (recipe teacher-resnet, 11 M params), 250 epochs,
# Keras 3 on JAX, on the packed FER2013 train+val. Run from the repository root on the device machine:
#
#   python ../shared/tools/fer2013_pack.py pack ../shared/datasets/fer2013 .carry/fer2013_trainval.npz   # here, once
#   (device) bash results/campaign/teacher_job.sh          # carry: .carry (the pack and the keras/namex/optree wheels)
#
# Variables: DATA (pack or data root), OUT (run folder; $OUT/teacher on the device so it comes back), EPOCHS (250),
# LIMIT (a stratified subset, for the smoke test), BACKEND (jax), PRECISION (bfloat16; empty for float32).
# The run checkpoints every epoch and resumes when started again with the same OUT (a 10-minute call limit).
set -euo pipefail
DATA=${DATA:-.carry/fer2013_trainval.npz}
OUT=${OUT:-${OUT_DIR:-runs}/teacher}
EPOCHS=${EPOCHS:-250}
if ls .carry/wheels/*.whl >/dev/null 2>&1; then pip install -q --no-deps .carry/wheels/*.whl; fi
python -c "import fer_edge" 2>/dev/null || pip install -q -e . --no-deps
export KERAS_BACKEND=${BACKEND:-jax} FER_EDGE_MIXED_PRECISION=${PRECISION-bfloat16}
export FER_EDGE_FEED_WORKERS=${FER_EDGE_FEED_WORKERS:-$(python -c "import os; print(max(1, (os.cpu_count() or 2) - 2))")}
args=(--recipe teacher-resnet --data "$DATA" --out "$OUT" --epochs "$EPOCHS" --no-test-report --verbose 2)
[ -n "${LIMIT:-}" ] && args+=(--limit "$LIMIT")
[ -f "$OUT/history.csv" ] && args+=(--resume)
fer-edge train "${args[@]}"
