#!/usr/bin/env bash
# Every GPU benchmark in one run, sized to finish within 10 minutes on one data-centre GPU:
# training steps (both presets, the full step, at each size, bf16 and fp32, the largest size also
# with gradient checkpointing, and torch.compile on the default preset) with peak CUDA memory, then
# try-on latency at each size for both presets and precisions. The tables go to $OUT/RESULTS.md,
# the logs beside them; each command has its own time limit so that one slow row cannot take the
# whole budget.
#
#   bash bench/gpu.sh                                         # on the GPU machine
#   DEVICE=cpu SIZES=64x48 PRESETS=default REPEATS=1 OUT=/tmp/gpu bash bench/gpu.sh   # tiny, on a CPU
#
# Exits non-zero when any command failed, after running the others.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-256x192,512x384,1024x768}
PRESETS=${PRESETS:-default,original}
REPEATS=${REPEATS:-3}
OUT=${OUT:-bench/gpu}
PYTHON=${PYTHON:-.venv/bin/python}
LIMIT=${LIMIT:-170}  # seconds per command
mkdir -p "$OUT"
RESULTS="$OUT/RESULTS.md"
printf '# GPU benchmarks\n\nWritten by `bash bench/gpu.sh` (DEVICE=%s, SIZES=%s, PRESETS=%s).\n' \
  "$DEVICE" "$SIZES" "$PRESETS" > "$RESULTS"
FAILED=0
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/GPU: /' | tee -a "$RESULTS"
fi

run() {  # run NAME COMMAND...: time-limited, logged; a failed row is reported and the rest go on
  local name=$1
  shift
  echo "== $name: $*"
  if ! timeout "$LIMIT" "$@" > "$OUT/$name.log" 2>&1; then
    echo "$name failed or ran over ${LIMIT} s; see $OUT/$name.log" | tee -a "$RESULTS"
    FAILED=1
  fi
  tail -n 3 "$OUT/$name.log"
}

TRAIN=("$PYTHON" bench/train.py --device "$DEVICE" --sizes "$SIZES" --presets "$PRESETS" --stages full --no-switches
  --repeats "$REPEATS")
run train_bf16 "${TRAIN[@]}" --precision bf16 --write "$RESULTS" --heading "## Training, bf16"
run train_fp32 "${TRAIN[@]}" --precision fp32 --write "$RESULTS" --heading "## Training, fp32"
run train_bf16_compile "${TRAIN[@]}" --presets "${PRESETS%%,*}" --precision bf16 --compile --write "$RESULTS" \
  --heading "## Training, bf16, torch.compile"
INFER=("$PYTHON" bench/infer.py --device "$DEVICE" --sizes "$SIZES" --presets "$PRESETS" --repeats "$REPEATS")
run infer_bf16 "${INFER[@]}" --precision bf16 --write "$RESULTS" --heading "## Inference, bf16"
run infer_fp32 "${INFER[@]}" --precision fp32 --write "$RESULTS" --heading "## Inference, fp32"
echo "results: $RESULTS"
exit "$FAILED"
