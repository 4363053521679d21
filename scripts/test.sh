#!/usr/bin/env bash
# Sets up (see setup.sh) and runs the whole test suite: unit, integration and, as root,
# end-to-end tests in throwaway network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/run-tests.mjs "$@"
