#!/bin/bash
# On the lent GPU machine: every line of JOBS (default benchmarks/gpu/screen3-jobs.txt) is the
# arguments of one `gpu_benchmark.py screen`, as shell words; PAR (12) of them share the GPU at
# once. Rows go to $OUT/screen.jsonl, each job's output to $OUT/jobN.txt, the machine's name to
# $OUT/screen-device.txt. Needs prepare_bundle.sh's outputs/gpu:
#   run: OUT=$OUT timeout 500 bash benchmarks/gpu/run_screen.sh   (carry: ["outputs/gpu"])
# Exits non-zero when a job failed.
set -u
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3
export CNNLAB_DATA_DIR=${CNNLAB_DATA_DIR:-$PWD/outputs/gpu/data}
PY=${PY:-python}
$PY -c "import pydantic, yaml" 2>/dev/null ||
  $PY -m pip install -q --no-index --find-links outputs/gpu/wheels pydantic pyyaml 2>&1 | tail -2
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import jax, keras; print(jax.__version__, keras.__version__, jax.devices())"; } > "$OUT/screen-device.txt" 2>&1
cat "$OUT/screen-device.txt"
started=$(date +%s)
jobs=$(mktemp -d); trap 'rm -rf "$jobs"' EXIT
n=0
while read -r line || [ -n "$line" ]; do
  case $line in "" | "#"*) continue ;; esac
  n=$((n + 1)); echo "$line" > "$OUT/job$n.txt"
  printf '%q benchmarks/gpu_benchmark.py screen %s --out %q >> %q 2>&1\n' "$PY" "$line" "$OUT" "$OUT/job$n.txt" > "$jobs/$n.sh"
done < "${JOBS:-benchmarks/gpu/screen3-jobs.txt}"
ls "$jobs"/*.sh | sort -V | xargs -P "${PAR:-12}" -n 1 bash  # the file's order: longest jobs first
status=$?
echo "$n jobs in $(( $(date +%s) - started )) s (xargs exit status $status)"; wc -l "$OUT/screen.jsonl"
exit $status
