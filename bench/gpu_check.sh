#!/usr/bin/env bash
# The one prepared GPU check (issue 47): everything it measures goes into one results folder.
#
#   bash bench/gpu_check.sh --data_root=DIR [--out=bench/results/gpu_check_10k]   # on a GPU machine, < 10 min
#   bash bench/gpu_check.sh --device=cpu --dry_run --data_root=DIR --out=OUT       # the CPU dry run CI tests
#
# Into --out: calibration.json (the machine, the GPU's name and memory, the CUDA version, and
# the calibration workload's seconds on the device), test_cuda.txt (tests/test_cuda.py, with
# one epoch's time), stages/ (bench/profiler.py round: every stage of a default round) and the
# default run on the first 10,000 MNIST images, seed 1, timed as a user runs it (bench/run.py:
# results.json, table.md, the run's config.json and metrics.csv). --dry_run makes every part
# tiny (300 images, one epoch, 500 calibration images) to check the script, not to time.
# Runs in the current folder (the run goes to ./model/), the scripts from this repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
device=cuda data_root=./data out=bench/results/gpu_check_10k dry_run=0
for arg in "$@"; do
  case "$arg" in
    --device=*) device="${arg#*=}" ;;
    --data_root=*) data_root="${arg#*=}" ;;
    --out=*) out="${arg#*=}" ;;
    --dry_run) dry_run=1 ;;
    *) echo "gpu_check.sh: unknown argument $arg; use --device=, --data_root=, --out=, --dry_run" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python}
mkdir -p "$out"
if [ "$dry_run" = 1 ]; then
  images=500
  settings=(--n_data=300 --vae_epochs=1 --mutual_epochs=1 --mutual_iteration=2 --gmm_iter=4 --batch_size=50
            --hidden_dims=32 --latent_dim=4 --tsne_points=50 --sample_num=2 --gmm_init=kmeans)
  epochs=1
else
  images=10000 settings=() epochs=3
fi
echo "== calibration workload on $device"
"$python" "$root/bench/profiler.py" calibrate --device="$device" --images="$images" --out="$out/calibration.json"
if [ "$device" != cpu ]; then
  echo "== tests/test_cuda.py"
  "$python" -m pytest "$root/tests/test_cuda.py" -q -s -p no:cacheprovider 2>&1 | tee "$out/test_cuda.txt"
fi
echo "== stages of a default round"
"$python" "$root/bench/profiler.py" round --device="$device" --data_root="$data_root" --epochs="$epochs" \
  --out="$out/stages" --calibration="$out/calibration.json" ${settings[@]+"${settings[@]}"}
echo "== the default run, seed 1"
"$python" "$root/bench/run.py" --out="$out" --seeds=1 --data_root="$data_root" --device="$device" \
  ${settings[@]+"${settings[@]}"}
echo "gpu_check.sh: everything is in $out"
