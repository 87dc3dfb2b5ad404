#!/usr/bin/env bash
# apt-get install for the .ci/setup-*.sh scripts: as root, or through sudo without a password;
# packaged services are kept from starting (the tests run their own instances). Asks nothing.
# Usage: .ci/apt-install.sh WHO PACKAGE... (WHO names the calling script in the error line)
set -euo pipefail
who="$1"
shift
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
  echo "$who: need root (or sudo) to apt-get install $*" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "$@"
