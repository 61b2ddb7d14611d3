#!/usr/bin/env bash
# Runs the CSV series specs at full length, one after another on one core, and prints each
# one's wall time and its train / validation / test RMSE in the data's units: the figures in
# the README's series table.
#   bash benches/series.sh            (builds lstmc in release first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin lstmc
printf '%-20s %10s  %s\n' spec seconds rmse
for spec in airline airline_year airline_multistep airline_early co2 macro macro_unemployment; do
  start=$(date +%s%N)
  rmse=$(RAYON_NUM_THREADS=1 taskset -c 0 ./target/release/lstmc run "specs/$spec.lstm" 2>/dev/null \
         | sed -n 's/^rmse: //p')
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '%-20s %7d.%03d  %s\n' "$spec" $((ms / 1000)) $((ms % 1000)) "$rmse"
done
