#!/usr/bin/env bash
# Installs Debian's nginx (nginx-light where the release has it) for the tests that put nginx in
# front of hub server processes (tests/hub/test_nginx_accel.py, tests/hub/test_scale_servers.py).
# The tests write their own configuration and run nginx as an unprivileged process; the packaged
# service is never started. Nothing is downloaded at test time; asks nothing.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
  echo "setup-nginx: need root (or sudo) to apt-get install nginx" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Keep apt from starting the packaged service.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get install -y -qq --no-install-recommends nginx-light || \
  $SUDO apt-get install -y -qq --no-install-recommends nginx
