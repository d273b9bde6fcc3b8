#!/usr/bin/env bash
# Installs the servers the test suite starts on its own (on free loopback ports, in temporary
# folders): redis-server and rabbitmq-server from Debian's packages, and Chromium and Node.js,
# which some tests drive. Nothing is started here, and the packages' own system services are
# kept from starting.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
# The host console's browser tests drive Debian's Chromium (never a downloaded browser).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The bench's Node Socket.IO peer (its smoke run is part of the suite; it npm-installs itself).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing ${missing[*]} from Debian's packages"
# policy-rc.d exit 101 tells invoke-rc.d not to start the packages' services at install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"
exit 0
