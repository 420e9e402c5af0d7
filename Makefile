# Two commands do all setup: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= reports/demo

.PHONY: demo test test-all bench notebook clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Core install (everything the main job needs, offline demo included).
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Test install: torch==2.13.0 first (a CPU build on this machine), so that monai does not
# pull a newer torch with gigabytes of CUDA wheels; then the package with test and deep extras.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test,deep]"
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/radiogenomics demo --out $(OUT)

# `make notebook`: JupyterLab (the [notebook] extra) in .venv, opened on notebooks/ with
# RADIOGENOMICS_RESULTS at the demo's results. It does not run the demo (minutes): without
# a finished demo ($(OUT)/results/report/report.html) it says so and stops: run `make demo` first. Options go in
# JUPYTER_ARGS, e.g. `make notebook JUPYTER_ARGS="--no-browser --port 8890"`; as root (a container)
# it adds --allow-root, which JupyterLab otherwise refuses to start without.
JUPYTER_ARGS ?=
JUPYTER_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root)

$(VENV)/.installed-notebook: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[notebook]"
	touch $@ $(VENV)/.installed-base

notebook:
	@test -f $(OUT)/results/report/report.html || { echo "make notebook: no demo results in $(OUT)/results; run \`make demo\` first (a few minutes), then \`make notebook\`." >&2; exit 2; }
	@$(MAKE) --no-print-directory $(VENV)/.installed-notebook
	RADIOGENOMICS_RESULTS="$(abspath $(OUT))/results" $(BIN)/jupyter-lab --notebook-dir=notebooks $(JUPYTER_ROOT) $(JUPYTER_ARGS)

# `make test` (CI) leaves out the tests marked slow (each over ~1 min on 2 cores: 3D backbones,
# learned-signal and noise-cohort deep runs, the pooled pure-noise protocol, the three-point
# SIGINT and SIGTERM interruptions and the interrupted-run resume of a whole run) to stay under
# 20 minutes; `make test-all` runs them too.
test: $(VENV)/.installed-test
	$(BIN)/ruff check --no-cache radiogenomics tests benchmarks
	$(BIN)/python -m pytest -m "not slow" --durations=25

test-all: $(VENV)/.installed-test
	$(BIN)/ruff check --no-cache radiogenomics tests benchmarks
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) reports/demo
