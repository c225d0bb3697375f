# Two entry points, each self-contained on a fresh machine:
#   make demo   builds the bundled sample world offline (no GPU, no network beyond pip, no weights)
#   make test   runs the test suite
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel from the local disk on the project's machines; an unpinned torch pulls a multi-GB CUDA build.
# On a CUDA machine: make demo TORCH_SPEC='torch' (then `pip install gsplat` for the GPU renderer).
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test test-isaac isaac-venv bench system-deps browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# open3d's wheel links libusb-1.0, which minimal Debian/Ubuntu images lack.
system-deps:
	@ldconfig -p | grep -q libusb-1.0 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null; }; }

# The viewer's browser tests drive Debian's chromium (playwright from pip, no browser download).
browser-deps:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq chromium >/dev/null; }; }

demo: system-deps $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/worldgen demo -o demo_world

test: system-deps browser-deps $(STAMP)
	$(VENV)/bin/ruff check worldgen_sim exporters tests bench examples isaac_ext
	$(VENV)/bin/mypy
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# Kit (isaacsim-kernel), PhysX (ovphysx) and Isaac Lab 3 in a cached Python 3.12 environment
# (isaac_ext/tools/isaac_venv.sh: ~4 GB under ~/.cache/worldgen_sim, built once); see README "Use in Isaac Sim".
isaac-venv:
	@bash isaac_ext/tools/isaac_venv.sh

test-isaac: system-deps $(STAMP)
	bash isaac_ext/tools/test_isaac.sh $(PY)

bench: system-deps $(STAMP)
	for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) demo_world .pytest_cache
