#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the browser tests of the hub's web pages
# (tests/hub/test_hub_pages_browser.py). Nothing is downloaded at test time; asks nothing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
cd "$(dirname "$0")"
./apt-install.sh setup-browser chromium chromium-driver
