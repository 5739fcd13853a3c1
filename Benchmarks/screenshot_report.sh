#!/usr/bin/env bash
# Renders a `triage compare --report` HTML page in headless Chromium and saves a PNG, to check that the
# page and its SVG chart display in a real browser with no network. Needs: apt-get install -y chromium
# Usage: bash Benchmarks/screenshot_report.sh REPORT.html OUT.png
set -euo pipefail
report="$(realpath "$1")"; out="$(realpath -m "${2:-report.png}")"
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,900 \
  --screenshot="$out" "file://$report" 2>/dev/null
echo "wrote $out"
