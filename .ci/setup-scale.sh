#!/usr/bin/env bash
# Installs what the tests of the scale-out hub store need (tests/hub/test_scale_*.py and the
# PostgreSQL + S3 half of tests/hub/test_hub_store.py): Debian's PostgreSQL server, which the tests
# initialise in a temporary folder and run as an unprivileged user, and Debian's nginx, which they
# put in front of several server processes. The S3 side is moto's server mode, a Python package
# of the dev extra (pip install -e '.[dev]'). Nothing is downloaded at test time; asks nothing.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
  echo "setup-scale: need root (or sudo) to apt-get install postgresql nginx" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packaged cluster is not used (the tests make their own); keep apt from starting services.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
$SUDO apt-get install -y -qq --no-install-recommends postgresql nginx-light || \
  $SUDO apt-get install -y -qq --no-install-recommends postgresql nginx
$SUDO rm -f /usr/sbin/policy-rc.d
