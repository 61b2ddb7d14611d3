#!/usr/bin/env bash
# Runs the nine experiments at full length, one after another on one core, and prints each
# one's wall time and accuracy: the figures in the README's experiments table.
#   bash benches/experiments.sh            (builds lstmc in release first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin lstmc
printf '%-20s %10s %10s\n' experiment seconds accuracy
total_ms=0
for spec in alphabet_naive alphabet_window alphabet_steps alphabet_batch_all alphabet_stateful \
            alphabet_varlen echo_whole encoder_decoder index_recall; do
  start=$(date +%s%N)
  accuracy=$(RAYON_NUM_THREADS=1 taskset -c 0 ./target/release/lstmc run "specs/$spec.lstm" 2>/dev/null \
             | sed -n 's/^accuracy: //p')
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  total_ms=$(( total_ms + ms ))
  printf '%-20s %7d.%02d %10s\n' "$spec" $((ms / 1000)) $((ms % 1000 / 10)) "$accuracy"
done
printf '%-20s %7d.%02d\n' "all nine" $((total_ms / 1000)) $((total_ms % 1000 / 10))
