#!/usr/bin/env bash
# Print the path of the Python 3.12 environment for Kit, PhysX (ovphysx) and Isaac Lab, creating it on first use.
#
# The environment is a cache outside the repository, keyed by a hash of isaac_ext/requirements-isaac*.txt and of
# this script, so a fresh clone (CI) reuses it and a changed requirement builds a new one. It holds isaacsim-kernel,
# ovphysx, torch and the build stages' packages (requirements-isaac.txt) plus isaaclab 3.0.0 installed --no-deps with
# only the packages its config, manager, terrain and math modules import (isaaclab pins ~5 GB of CUDA wheels, Newton,
# rendering and teleoperation packages that none of this needs). worldgen_sim itself is not part of it:
# test_isaac.sh installs the calling checkout into it (editable, no dependencies) on each run.
#
# Environment: ISAAC_VENV (use this folder instead), PYTHON312 (the interpreter to build it from),
# WORLDGEN_CACHE (cache root, default ${XDG_CACHE_HOME:-$HOME/.cache}/worldgen_sim).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/../requirements-isaac.txt"
key=$(cat "$req" "$here/../requirements-isaaclab.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)
cache=${WORLDGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/worldgen_sim}
venv=${ISAAC_VENV:-$cache/isaac-venv-$key}

if [ -f "$venv/.complete" ]; then echo "$venv"; exit 0; fi

find_python312() {
  local candidates=("${PYTHON312:-}")
  if command -v pyenv >/dev/null 2>&1; then candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12); fi
  candidates+=(python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12)
  for candidate in "${candidates[@]}"; do
    # A pyenv shim exists even when it cannot run 3.12: ask each candidate itself.
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  echo "isaac_venv.sh: Python 3.12 not found (isaacsim-kernel and isaaclab 3 need it); set PYTHON312" >&2
  exit 2
}

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9  # two checkouts building the same cache wait for each other
if [ -f "$venv/.complete" ]; then echo "$venv"; exit 0; fi
python312=$(find_python312)
start=$(date +%s)
rm -rf "$venv"
echo "isaac_venv.sh: creating $venv (one-off: ~4 GB, several minutes cold)" >&2
"$python312" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -r "$req" >&2
# isaaclab's own pins (torch 2.11 + CUDA, newton 1.6, usd-exchange, ...) would replace half of the above;
# what its config, manager, terrain, scene and math modules actually import is listed in requirements-isaaclab.txt.
"${pip[@]}" --no-deps isaaclab==3.0.0 >&2
"${pip[@]}" -r "$here/../requirements-isaaclab.txt" >&2
echo "isaac_venv.sh: created in $(( $(date +%s) - start )) s" >&2
touch "$venv/.complete"
echo "$venv"
