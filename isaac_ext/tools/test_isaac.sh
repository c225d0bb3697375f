#!/usr/bin/env bash
# `make test-isaac`: the Isaac tests in the Python 3.12 environment (Kit, PhysX, Isaac Lab), then Newton vs PhysX.
#
#   1. the cached environment (isaac_venv.sh; built once, then reused by every checkout)
#   2. this checkout's worldgen_sim into it (editable, no dependencies: a few seconds)
#   3. tests/isaac: headless Kit loads the extension from this repository, builds and spawns the demo world,
#      PhysX steps it; Isaac Lab configs and event functions; the PhysX drop test. Nothing may skip.
#   4. tests/test_verify_engines.py in the main environment ($1, default .venv): Newton and PhysX on the
#      world Kit built, same probes, rest heights compared.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
main_python=${1:-$root/.venv/bin/python}
start=$(date +%s)
venv=$(bash "$root/isaac_ext/tools/isaac_venv.sh")
echo "test-isaac: environment $venv ready after $(( $(date +%s) - start )) s"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$root"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/worldgen-isaac-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export WORLDGEN_REQUIRE_ISAAC=1 WORLDGEN_ISAAC_SCRATCH="$scratch" HF_HUB_OFFLINE=1
cd "$root"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/isaac
WORLDGEN_PHYSX_PYTHON="$venv/bin/python" WORLDGEN_ISAAC_WORLD="$scratch/world" \
  "$main_python" -m pytest -q -p no:cacheprovider tests/test_verify_engines.py
echo "test-isaac: done in $(( $(date +%s) - start )) s"
