#!/usr/bin/env bash
# Every GPU benchmark in one run that ends within BUDGET seconds (default 540, inside a 10-minute
# slot on one data-centre GPU): training steps (both presets, the full step, at each size, bf16 and
# fp32, the largest size also with gradient checkpointing) with peak CUDA memory; try-ons of 1 and
# of 32 garments on one avatar at each size, both presets and precisions; then torch.compile on the
# default preset's full step at the first size (each size would compile again). The tables go to
# $OUT/RESULTS.md, the logs beside them.
#
#   bash bench/gpu.sh                                         # on the GPU machine
#   DEVICE=cpu SIZES=64x48 PRESETS=default REPEATS=1 OUT=/tmp/gpu bash bench/gpu.sh   # tiny, on a CPU
#
# It runs on an image that has PyTorch and tryon's dependencies but not tryon installed: without
# .venv it takes python3 and imports tryon from this checkout. The unit's yardstick is
# ../shared/bench/yardstick.py, or the file $TRYON_YARDSTICK names. The interpreter, the yardstick
# and the GPU are checked before anything is timed.
#
# The commands run in order of what matters most, each until a deadline: command i may run until
# BUDGET x (the shares of commands 1..i) / 100 seconds after the start, so time one leaves unused
# goes to the next and a slow one cannot take the others' time. A command stopped at its deadline
# leaves the rows it had printed, copied into RESULTS.md under its heading. Exits non-zero when
# any command failed or was stopped, after running the others.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-256x192,512x384,1024x768}
PRESETS=${PRESETS:-default,original}
REPEATS=${REPEATS:-3}
BATCHES=${BATCHES:-1,32}  # garments per try-on batch: latency and throughput
OUT=${OUT:-bench/gpu}
BUDGET=${BUDGET:-540}
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" -c 'import torch, tryon' || {
  echo "$PYTHON cannot import torch and tryon; set PYTHON to an interpreter that has PyTorch" >&2
  exit 2
}
"$PYTHON" - <<'CHECK' || exit 2
import sys

sys.path.insert(0, "bench")
from machine import yardstick_path

try:
    yardstick_path()
except FileNotFoundError as missing:
    sys.exit(str(missing))
CHECK
if [ "$DEVICE" != cpu ]; then
  "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" || {
    echo "DEVICE=$DEVICE but $PYTHON's PyTorch sees no CUDA device" >&2
    exit 2
  }
fi

mkdir -p "$OUT"
RESULTS="$OUT/RESULTS.md"
printf '# GPU benchmarks\n\nWritten by `bash bench/gpu.sh` (DEVICE=%s, SIZES=%s, PRESETS=%s, BUDGET=%s s).\n' \
  "$DEVICE" "$SIZES" "$PRESETS" "$BUDGET" > "$RESULTS"
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/GPU: /' | tee -a "$RESULTS"
fi
FAILED=0
START=$SECONDS
SHARES=0

run() {  # run NAME HEADING SHARE COMMAND...: logged, stopped at its deadline; the rest go on
  local name=$1 heading=$2 share=$3
  shift 3
  SHARES=$((SHARES + share))
  local limit=$((START + BUDGET * SHARES / 100 - SECONDS))
  echo "== $name (until ${limit} s from now): $*"
  if [ "$limit" -lt 10 ]; then
    printf '\n%s\n\nNot run: %s s were left of BUDGET=%s s.\n' "$heading" "$limit" "$BUDGET" | tee -a "$RESULTS"
    FAILED=1
    return
  fi
  if ! timeout --kill-after=10 "$limit" "$@" --write "$RESULTS" --heading "$heading" > "$OUT/$name.log" 2>&1; then
    if grep -qxF "$heading" "$RESULTS"; then
      printf '\n%s failed after writing its section; see %s/%s.log\n' "$name" "$OUT" "$name" | tee -a "$RESULTS"
    else
      printf '\n%s\n\nStopped at its deadline (%s s) or failed; see %s/%s.log. The rows it had measured:\n\n' \
        "$heading" "$limit" "$OUT" "$name" | tee -a "$RESULTS"
      grep '^|' "$OUT/$name.log" | tee -a "$RESULTS" || true
    fi
    FAILED=1
  fi
  tail -n 3 "$OUT/$name.log"
}

TRAIN=("$PYTHON" bench/train.py --device "$DEVICE" --sizes "$SIZES" --presets "$PRESETS" --stages full --no-switches
  --repeats "$REPEATS")
INFER=("$PYTHON" bench/infer.py --device "$DEVICE" --sizes "$SIZES" --presets "$PRESETS" --batches "$BATCHES"
  --repeats "$REPEATS")
run train_bf16 "## Training, bf16" 28 "${TRAIN[@]}" --precision bf16
run infer_bf16 "## Inference, bf16" 16 "${INFER[@]}" --precision bf16
run train_fp32 "## Training, fp32" 24 "${TRAIN[@]}" --precision fp32
run infer_fp32 "## Inference, fp32" 14 "${INFER[@]}" --precision fp32
run train_bf16_compile "## Training, bf16, torch.compile" 18 "${TRAIN[@]}" --presets "${PRESETS%%,*}" \
  --sizes "${SIZES%%,*}" --precision bf16 --compile
echo "results: $RESULTS ($((SECONDS - START)) s)"
exit "$FAILED"
