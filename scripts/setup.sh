#!/usr/bin/env bash
# Installs everything knockd-ts needs on a fresh Debian machine (run as root), then builds.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssh-server and coturn: the e2e tests start their own sshd / STUN server inside namespaces
# they create; the packages' own services are never used. go-md2man: man pages (npm pack,
# scripts/build-deb.sh); man-db, logrotate: the package tests.
PKGS=(libpcap-dev iptables nftables iproute2 knockd fwknop-server fwknop-client hping3 tcpdump procps util-linux libcap2-bin systemd openssh-client openssh-server coturn valgrind go-md2man man-db logrotate)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # These packages are tools and test peers only: their services (knockd, sshd, coturn) must not
  # start on the host. Debian's invoke-rc.d consults policy-rc.d; exit 101 = "action forbidden".
  # Ours is removed again afterwards (an admin's own policy-rc.d is left alone).
  policy=/usr/sbin/policy-rc.d
  ours=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from knockd-ts scripts/setup.sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    ours=1
  fi
  trap '[[ -n $ours ]] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [[ -n $ours ]] && rm -f "$policy"
  ours=""
fi
# knockd's Debian package may start its own service; we never want it running on the host.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet knockd 2>/dev/null; then
  echo "setup: note: the Debian knockd service is active on this host; knockd-ts tests do not use it" >&2
fi
npm ci --no-audit --no-fund
# cap is optional for npm (a client install needs no compiler), but the daemon and the tests need it
node -e "require('cap')" 2>/dev/null || { echo "setup: the optional module cap did not build (libpcap-dev, make, g++, python3 needed)" >&2; exit 1; }
npm run build
