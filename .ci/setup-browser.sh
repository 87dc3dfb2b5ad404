#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the browser tests of the hub's web pages
# (tests/hub/test_hub_pages_browser.py). Nothing is downloaded at test time; asks nothing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
  echo "setup-browser: need root (or sudo) to apt-get install chromium chromium-driver" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
