# The two set-up commands (see README.md):
#   make demo   — create the environment and run the whole pipeline (`dvc repro`) on the embedded demo data
#   make test   — create the environment and run the test suite
# Both bootstrap uv with pip if needed, then install exactly what uv.lock pins (`uv sync --frozen`), compiled to
# bytecode once: where PYTHONDONTWRITEBYTECODE is set (this CI machine, many containers) every stage would
# otherwise compile torch, torchvision and timm from source at start-up (~8 s per process, measured).

PYTHON ?= python3
UV := $(PYTHON) -m uv

.PHONY: demo test env lint

env:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	$(UV) sync --frozen --compile-bytecode

demo: env
	$(UV) run dvc repro

test: env
	$(UV) run pytest

lint: env
	$(UV) run ruff check framecache stages tests benchmarks
	$(UV) run ruff format --check framecache stages tests benchmarks
