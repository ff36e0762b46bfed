# One-command entry points. `make demo` and `make test` include the set-up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= 2
SNAKEMAKE := $(BIN)/snakemake
export HF_HUB_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup system cluster cluster-down demo test test-fast dryrun-paper report clean

# Idempotent: re-running only installs what is missing. torch first, with its exact pin,
# so nothing later resolves a multi-GB CUDA build.
setup: $(VENV)/.installed

$(VENV)/.installed: envs/torch.txt envs/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r envs/torch.txt
	$(BIN)/pip install -q -r envs/requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	@if $(BIN)/pip list 2>/dev/null | grep -qi '^nvidia'; then echo "error: a CUDA build was pulled in"; exit 1; fi
	touch $@

# The main job: the whole DAG on the embedded tiny default (config/tiny.yaml), local executor.
demo: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(SNAKEMAKE) --profile workflow/profiles/local -j $(JOBS) all
	PATH=$(CURDIR)/$(BIN):$$PATH $(SNAKEMAKE) --report reports/report.html all
	@echo; echo "== Main table (reports/main_table.md) =="; cat reports/main_table.md
	@echo; echo "== Held-out table (reports/heldout_table.md) =="; cat reports/heldout_table.md
	@echo; echo "Where to look: reports/report.html (every table and figure, captioned),"
	@echo "  reports/README.md (what each file is), results/ (models, runs, eval samples, logs)."

# System packages the tests need (Debian): a single-node SLURM and Chromium. Idempotent.
system:
	@if command -v sbatch >/dev/null && command -v munged >/dev/null && command -v chromium >/dev/null; then :; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends slurm-wlm munge chromium chromium-driver; fi

# A single-node SLURM cluster on this machine for the SLURM tests (no-op when one is up).
cluster: system
	@if sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed|allocated'; then echo "SLURM is up"; \
	  else $(SUDO) bash .ci/slurm_up.sh; fi

cluster-down:
	$(SUDO) bash .ci/slurm_down.sh

# Every test, slow ones included (the full tiny DAG, mutation testing, the SLURM cluster
# tests, the HTML report in headless Chromium).
test: setup cluster
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -ra --durations=25

test-fast: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -ra -m "not slow and not slurm"

# Every table and figure of reports/ (+ reports/report.html) from the result files in results/,
# whatever made them (this DAG, or results copied from a cluster): no GPU, no weights, seconds.
# Partial results are fine: what is missing is marked in the report (TIDE_REPORT_PARTIAL).
report: setup
	PATH=$(CURDIR)/$(BIN):$$PATH TIDE_REPORT_PARTIAL=1 $(SNAKEMAKE) -c1 --allowed-rules report heldout_report --forcerun report heldout_report -- report heldout_report
	PATH=$(CURDIR)/$(BIN):$$PATH TIDE_REPORT_PARTIAL=1 $(SNAKEMAKE) --allowed-rules report --report reports/report.html -- report

dryrun-paper: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(SNAKEMAKE) -n all --configfile config/paper.yaml

clean:
	rm -rf results .snakemake
	find reports -maxdepth 1 -type f ! -name README.md -delete
