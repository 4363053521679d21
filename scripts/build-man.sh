#!/bin/sh
# Generates the man pages dist/man/knock.1, knockd.8, knockd.conf.5 from docs/man/*.md with
# go-md2man (Debian package go-md2man; scripts/setup.sh installs it). Run by `npm run man`, by
# `npm pack` (prepack) and by scripts/build-deb.sh. @VERSION@ and @DATE@ in the title lines are
# filled from package.json and SOURCE_DATE_EPOCH (else the last commit, else now), so the same
# tree gives the same pages.
set -eu
cd "$(dirname "$0")/.."
if ! command -v go-md2man >/dev/null 2>&1; then
  echo "build-man: go-md2man not found; install it (Debian: apt-get install go-md2man, or run scripts/setup.sh)" >&2
  exit 1
fi
version=$(node -p "require('./package.json').version")
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date=$(LC_ALL=C date -u -d "@$epoch" '+%B %Y')
mkdir -p dist/man
for md in docs/man/*.md; do
  page=$(basename "$md" .md)             # knock.1, knockd.8, knockd.conf.5
  sed -e "s/@VERSION@/$version/g" -e "s/@DATE@/$date/g" "$md" | go-md2man -out "dist/man/$page"
done
echo "build-man: $(ls dist/man | tr "\n" " ")" >&2
