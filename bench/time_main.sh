#!/usr/bin/env bash
# Wall time of `python main.py` as a user runs it (plots and decoding included), one seed
# at a time, nothing else running:
#   bash bench/time_main.sh OUT SEEDS [--name=value ...]
#   bash bench/time_main.sh model/fast "1 2 3 4 5" --data_root=DIR
# First, unless OUT/calibration.json exists, bench/calibrate.py's workload is timed into it
# (the machine and the workload's seconds: timings are also read as multiples of it).
# Each seed's run goes to model/<basename OUT>_s<seed>/ (main.py's own tree), its console
# output to OUT/log_s<seed>.txt, and "seed seconds" to OUT/walls.txt; then
# python bench/run_table.py --runs=... --walls=OUT/walls.txt summarises them.
set -euo pipefail
out=$1; seeds=$2; shift 2
mkdir -p "$out"
[ -f "$out/calibration.json" ] || python bench/calibrate.py --out="$out/calibration.json" > /dev/null
for s in $seeds; do
  start=$(date +%s.%N)
  python main.py --seed="$s" --dir_name="$(basename "$out")_s$s" "$@" > "$out/log_s$s.txt" 2>&1
  echo "$s $(echo "$(date +%s.%N) - $start" | bc)" >> "$out/walls.txt"
done
