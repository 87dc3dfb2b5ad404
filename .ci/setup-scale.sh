#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the tests of the scale-out hub store
# (tests/hub/test_scale_*.py and the PostgreSQL + S3 half of tests/hub/test_hub_store.py), which
# initialise a cluster in a temporary folder and run it as an unprivileged user; the packaged
# cluster is never started. nginx, which those tests put in front of several server processes,
# comes from .ci/setup-nginx.sh; the S3 side is moto's server mode, a Python package of the dev
# extra (pip install -e '.[dev]'). Nothing is downloaded at test time; asks nothing.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
cd "$(dirname "$0")"
./apt-install.sh setup-scale postgresql
