#!/usr/bin/env bash
# Builds the Debian package dist/deb/knockd-ts_<version>_<arch>.deb with dpkg-deb (no debhelper).
#
#   scripts/build-deb.sh [OUTDIR]        (npm run deb)
#
# Contents: what `npm pack` ships (so the same prepack build: tsc, the client bundle, the man
# pages) plus the production node_modules installed from package-lock.json, with cap compiled
# here against libpcap: nothing runs npm at install time. Because cap.node is machine code for
# this architecture and this Node ABI, the package is <arch> (dpkg --print-architecture), not
# "all", and depends on this Node major version only. Layout (co-installable with Debian's
# knockd, which owns /usr/sbin/knockd and /usr/bin/knock):
#   /usr/lib/knockd-ts/{bin,dist,node_modules,package.json}   the programs, knockd/knock names
#   /usr/sbin/knockd-ts  wrapper: -c /etc/knockd-ts/knockd.conf by default
#   /usr/bin/knock-ts    -> ../lib/knockd-ts/bin/knock
#   /etc/knockd-ts/knockd.conf (conffile, opens nothing as shipped), /etc/logrotate.d/knockd-ts
#   /lib/systemd/system/knockd-ts.service (from systemd/knockd.service via layout.sed)
#   man pages knock-ts(1), knockd-ts(8), knockd-ts.conf(5); docs in /usr/share/doc/knockd-ts
# Needs: node/npm, dpkg-deb, go-md2man, libpcap-dev and a C/C++ toolchain (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/dist/deb}
PKG=packaging/debian
for t in dpkg-deb dpkg npm node go-md2man gzip; do
  command -v "$t" >/dev/null || { echo "build-deb: '$t' not found (run scripts/setup.sh)" >&2; exit 1; }
done
VERSION=$(node -p "require('./package.json').version")
ARCH=$(dpkg --print-architecture)
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
WORK=$(mktemp -d /tmp/knockd-ts-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ST=$WORK/root
APP=$ST/usr/lib/knockd-ts

echo "build-deb: npm pack from a clean copy (builds first)" >&2
TGZ=$(bash scripts/pack.sh "$WORK")
mkdir -p "$APP"
tar -xzf "$TGZ" -C "$APP" --strip-components=1
cp package-lock.json "$APP/"
echo "build-deb: production node_modules, cap compiled against libpcap" >&2
# node-gyp needs Node's headers: Debian's nodejs has them in /usr/include/node (no download)
if [[ -z ${npm_config_nodedir:-} && -f /usr/include/node/node_api.h ]]; then export npm_config_nodedir=/usr; fi
(cd "$APP" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
[[ -f $APP/node_modules/cap/build/Release/cap.node ]] || {
  echo "build-deb: cap did not build (need libpcap-dev, make, g++, python3: scripts/setup.sh)" >&2; exit 1; }
# keep what runs: the addon binary, not its build tree or sources
(cd "$APP/node_modules/cap" && find build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} + &&
  find build/Release -mindepth 1 -maxdepth 1 ! -name cap.node -exec rm -rf {} + && rm -rf src deps binding.gyp)
rm -f "$APP/package-lock.json" "$APP/node_modules/.package-lock.json"
# the package's node is Debian's /usr/bin/node (the one cap.node was built for), not PATH's
sed -i '1s|^#!.*|#!/usr/bin/node|' "$APP/bin/knock" "$APP/bin/knockd"
# documents and man pages move from the packed tree to /usr/share (the tarball's copies, not the checkout's)
DOCS=(README.md SECURITY.md PROTOCOL.md docs/ARCHITECTURE.md docs/PRIVILEGES.md systemd/README.md keys/README.md)
DOC=$ST/usr/share/doc/knockd-ts
mkdir -p "$DOC"
for d in "${DOCS[@]}"; do install -D -m 0644 "$APP/$d" "$DOC/$d"; done     # same relative links as in the repo
install -m 0644 $PKG/copyright "$DOC/copyright"
for p in knock.1:man1/knock-ts.1 knockd.8:man8/knockd-ts.8 knockd.conf.5:man5/knockd-ts.conf.5; do
  install -D -m 0644 "$APP/dist/man/${p%%:*}" "$ST/usr/share/man/${p#*:}"
  gzip -9n "$ST/usr/share/man/${p#*:}"
done
for d in "${DOCS[@]}" LICENSE docs systemd keys dist/man; do rm -rf "${APP:?}/$d"; done

install -D -m 0755 $PKG/knockd-ts "$ST/usr/sbin/knockd-ts"
mkdir -p "$ST/usr/bin" && ln -s ../lib/knockd-ts/bin/knock "$ST/usr/bin/knock-ts"
install -D -m 0644 $PKG/knockd.conf "$ST/etc/knockd-ts/knockd.conf"
sed -f $PKG/layout.sed systemd/knockd.logrotate > "$WORK/logrotate"
install -D -m 0644 "$WORK/logrotate" "$ST/etc/logrotate.d/knockd-ts"
sed -f $PKG/layout.sed systemd/knockd.service > "$WORK/unit"
install -D -m 0644 "$WORK/unit" "$ST/lib/systemd/system/knockd-ts.service"
if grep -nE '/usr/local|/etc/knockd\.conf|/var/log/knockd/|=knockd$|[^-]knockd\.service' "$ST/lib/systemd/system/knockd-ts.service" "$ST/etc/logrotate.d/knockd-ts" | grep -v ':#'; then
  echo "build-deb: layout.sed left an npm-layout path in the unit or logrotate snippet (above)" >&2; exit 1
fi

mkdir -p "$ST/DEBIAN"
install -m 0755 $PKG/postinst $PKG/prerm $PKG/postrm "$ST/DEBIAN/"
printf '/etc/knockd-ts/knockd.conf\n/etc/logrotate.d/knockd-ts\n' > "$ST/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$ST" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    -e "s/@NODE_MAJOR@/$NODE_MAJOR/" -e "s/@NODE_NEXT@/$((NODE_MAJOR + 1))/" $PKG/control.in > "$ST/DEBIAN/control"
(cd "$ST" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$ST/DEBIAN/md5sums"
find "$ST" -type d -exec chmod 0755 {} +
mkdir -p "$OUT"
DEB=$OUT/knockd-ts_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ST" "$DEB" >/dev/null
echo "$DEB"
