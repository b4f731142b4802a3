#!/usr/bin/env bash
# A campaign run on the lent GPU machine (issue 14), inside one device call. From the repository root there:
#
#   python -m fer_edge.training.device_job pack ../shared/datasets/fer2013 .carry/fer2013_trainval.npz  # here, once:
#       train + val packed (shared/tools/fer2013_pack.py) without the train faces that copy a test face
#   python -m fer_edge.training.device_job aside   # here: files the job does not read out of the tree (64 MiB cap)
#   (device, carry .carry: the pack and the keras/namex/optree cp312 wheels)
#   bash results/campaign/gpu_job.sh g3-edge-l-kd-e150 --budget-s 430        # a run of plan.json, its arguments
#   bash results/campaign/gpu_job.sh teacher-resnet --epochs 100 --ema 0 --budget-s 430 --probs   # or a recipe
#   bash results/campaign/gpu_job.sh g7-edge-s-e120-kd-trainval --budget-s 430 --resume-from .carry/g7   # a later
#       session: go on from a cut-short run's returned state (its resume.tar parts, copied to .carry/g7)
#   (here) copy the returned files to a folder outside the work tree, then
#   python -m fer_edge.training.device_job back   # the set-aside files back
#   python -m fer_edge.training.device_job join FOLDER   # model.keras, model_ema.keras from their parts
#   fer-edge campaign --record RUN --from FOLDER --hours H --note "..."   # a "device": "gpu" run of the plan
#
# Arguments go to `python -m fer_edge.training.device_job` (a plan run or recipe, --epochs, --ema, --budget-s,
# --probs, --limit, --resume-from); defaults here: --data $DATA (the pack), --run $RUN (/tmp/<name>), --bring-back $OUT.
# Variables: KERAS_BACKEND (jax), FER_EDGE_MIXED_PRECISION (bfloat16; empty for float32), FER_EDGE_FEED_WORKERS.
set -euo pipefail
recipe=${1:?usage: gpu_job.sh PLAN_RUN_OR_RECIPE [device_job options]}; shift
# The device image has JAX but no Keras: install the carried wheels there (only where keras is missing).
python3 -c "import keras" 2>/dev/null || python3 -m pip install -q --no-deps .carry/wheels/*.whl
# The device has no package index, so no editable build: link the two workstation packages in place instead.
if ! python3 -c "import fer_edge.training" 2>/dev/null; then
  ln -sfn ../training fer_edge/training; ln -sfn ../converters fer_edge/converters
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} FER_EDGE_MIXED_PRECISION=${FER_EDGE_MIXED_PRECISION-bfloat16} PYTHONUNBUFFERED=1
export FER_EDGE_FEED_WORKERS=${FER_EDGE_FEED_WORKERS:-$(python3 -c "import os; print(max(1, (os.cpu_count() or 2) - 2))")}
exec python3 -m fer_edge.training.device_job "$recipe" --data "${DATA:-.carry/fer2013_trainval.npz}" \
  --run "${RUN:-/tmp/$recipe}" --bring-back "${OUT:-runs/device}" "$@"
