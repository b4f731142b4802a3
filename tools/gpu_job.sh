#!/usr/bin/env bash
# A campaign run on one particular remote GPU machine, inside one call of its runner. From the repository root there:
#
#   python tools/device_job.py pack ../shared/datasets/fer2013 .carry/fer2013_trainval.npz  # here, once:
#       train + val packed (fer_edge.training.data.pack_folders) without the train faces that copy a test face
#   python tools/device_job.py aside   # here: files the job does not read out of the tree (64 MiB cap)
#   pip wheel --no-deps -w .carry/wheels .   # here: fer-edge as a wheel (pure Python), installed there without an index
#   (device, carry .carry: the pack and the keras/namex/optree cp312 wheels)
#   bash tools/gpu_job.sh g3-edge-l-kd-e150 --budget-s 430        # a run of plan.json, its arguments
#   bash tools/gpu_job.sh teacher-resnet --epochs 100 --ema 0 --budget-s 430 --probs   # or a recipe
#   bash tools/gpu_job.sh g7-edge-s-e120-kd-trainval --budget-s 430 --resume-from .carry/g7   # a later
#       call: go on from a cut-short run's returned state (its resume.tar parts, copied to .carry/g7)
#   (here) copy the returned files to a folder outside the work tree, then
#   python tools/device_job.py back   # the set-aside files back
#   python tools/device_job.py join FOLDER   # model.keras, model_ema.keras from their parts
#   fer-edge campaign --record RUN --from FOLDER --hours H --note "..."   # a "device": "gpu" run of the plan
#
# Arguments go to `python tools/device_job.py` (a plan run or recipe, --epochs, --ema, --budget-s,
# --probs, --limit, --resume-from); defaults here: --data $DATA (the pack), --run $RUN (/tmp/<name>), --bring-back $OUT.
# Variables: KERAS_BACKEND (jax), FER_EDGE_MIXED_PRECISION (bfloat16; empty for float32), FER_EDGE_FEED_WORKERS.
set -euo pipefail
recipe=${1:?usage: gpu_job.sh PLAN_RUN_OR_RECIPE [device_job options]}; shift
# The device image has JAX but no Keras: install the carried wheels there (only where keras is missing).
python3 -c "import keras" 2>/dev/null || python3 -m pip install -q --no-deps $(ls .carry/wheels/*.whl | grep -v fer_edge)
# fer-edge itself from its carried wheel (the machine has no package index): the installed package, as everywhere
(cd / && python3 -c "import fer_edge.training" 2>/dev/null) || python3 -m pip install -q --no-deps .carry/wheels/fer_edge-*.whl
export KERAS_BACKEND=${KERAS_BACKEND:-jax} FER_EDGE_MIXED_PRECISION=${FER_EDGE_MIXED_PRECISION-bfloat16} PYTHONUNBUFFERED=1
export FER_EDGE_FEED_WORKERS=${FER_EDGE_FEED_WORKERS:-$(python3 -c "import os; print(max(1, (os.cpu_count() or 2) - 2))")}
exec python3 tools/device_job.py "$recipe" --data "${DATA:-.carry/fer2013_trainval.npz}" \
  --run "${RUN:-/tmp/$recipe}" --bring-back "${OUT:-runs/device}" "$@"
