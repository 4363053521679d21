#!/usr/bin/env bash
# Builds, installs, uses and purges the Debian package as README.md documents it, and checks
# each step (test/package/deb-sandbox.ts). Root only. Nothing is installed on the host: dpkg,
# apt and the maintainer scripts run in a private mount namespace over overlays of /etc, /usr,
# /var, /run and /root (test/package/sandbox.ts) which vanish when it exits; the knock runs in
# network namespaces; the service is never started by systemd (there is none here: a systemctl
# shim runs the installed unit's Exec lines as its user with its capabilities, inside the
# server namespace). Also run by the suite: test/package/deb.test.ts.
#
#   scripts/test-deb.sh [--no-build]     (--no-build: dist/ is already compiled)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "test-deb: run as root (dpkg, mount and network namespaces)" >&2; exit 2; fi
for t in dpkg-deb apt unshare mount ip iptables setpriv logrotate go-md2man man; do
  command -v "$t" >/dev/null || { echo "test-deb: '$t' not found (scripts/setup.sh installs it)" >&2; exit 2; }
done
if [[ ${1:-} != --no-build ]]; then npm run build >/dev/null; fi
# not exec: this shell stays in the host mount namespace, so the sandbox can see the host past
# its overlays (/proc/$$/root) to find what the package left behind
DIR=$(mktemp -d /tmp/kts-sandbox.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
KTS_HOST_PID=$$ KTS_SANDBOX_DIR=$DIR unshare --mount --propagation private node dist/test/package/deb-sandbox.js
