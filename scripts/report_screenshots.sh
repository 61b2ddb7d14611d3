#!/usr/bin/env bash
# Renders the run reports of two specs (the stateful alphabet and the encoder-decoder) in
# headless Chromium and saves full-page screenshots, to look at: overlapping labels,
# unreadable colours, empty charts. Installs Debian's chromium when it is missing (needs
# root and the Debian registry). Usage: scripts/report_screenshots.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report-screenshots}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium
fi
cargo build --release -q --bin lstmc
for spec in alphabet_stateful encoder_decoder; do
  ./target/release/lstmc run "specs/$spec.lstm" --report "$out/$spec.html" >/dev/null 2>&1
  # A window tall enough for either whole page.
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1280,6000 --screenshot="$out/$spec.png" "file://$out/$spec.html" 2>/dev/null
  test -s "$out/$spec.png"
  echo "$out/$spec.png ($(du -h "$out/$spec.html" | cut -f1) of HTML)"
done
