#!/usr/bin/env bash
# npm pack from a clean copy of the source tree, so the tarball holds only what the prepack
# build produces from the sources (no stale dist/ files), and the checkout's dist/ (which a
# running test suite uses) is left alone. Prints the tarball's path.
#
#   scripts/pack.sh OUTDIR
#   scripts/pack.sh --source-copy DIR    only make the clean copy in DIR (test/package/readme-sandbox.ts)
#
# The copy has the tracked and untracked-but-not-ignored files (git ls-files), and the
# checkout's node_modules (tsc, esbuild) as a symlink. Used by scripts/build-deb.sh and
# test/package/npm-pack.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || { echo "pack: run npm ci first" >&2; exit 1; }
if [[ $1 == --source-copy ]]; then
  SRC=$2; mkdir -p "$SRC"
else
  OUT=$(mkdir -p "$1" && cd "$1" && pwd)
  SRC=$(mktemp -d /tmp/knockd-ts-src.XXXXXX)
  trap 'rm -rf "$SRC"' EXIT
fi
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
  [[ -e $f ]] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$SRC"
ln -s "$PWD/node_modules" "$SRC/node_modules"
if [[ $1 == --source-copy ]]; then echo "$SRC"; exit 0; fi
# the copy keeps this checkout's commit date for the man pages (build-man.sh)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
name=$(cd "$SRC" && npm pack --silent --pack-destination "$OUT" | tail -n 1)
echo "$OUT/$name"
