#!/usr/bin/env bash
# Installs Debian's nginx (nginx-light where the release has it) for the tests that put nginx in
# front of hub server processes (tests/hub/test_nginx_accel.py, tests/hub/test_scale_servers.py).
# The tests write their own configuration and run nginx as an unprivileged process; the packaged
# service is never started. Nothing is downloaded at test time; asks nothing.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
cd "$(dirname "$0")"
./apt-install.sh setup-nginx nginx-light || ./apt-install.sh setup-nginx nginx
