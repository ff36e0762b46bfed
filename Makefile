# One-command entry points. `make demo` and `make test` include the set-up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= 2
SNAKEMAKE := $(BIN)/snakemake
# Offline by default; `make prefetch` (the one target that downloads) unsets them itself.
export HF_HUB_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup system cluster cluster-down demo test test-fast dryrun-paper report clean \
	rehearsal-hub rehearsal rehearsal-full preflight prefetch

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

# The main job: the whole DAG on the embedded tiny default (config/tiny.yaml), local executor,
# then the HTML report from the same Snakemake process (no second start-up and DAG build).
demo: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(SNAKEMAKE) --profile workflow/profiles/local -j $(JOBS) \
	  --report reports/report.html --report-after-run all
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

# The paper's own plan rehearsed on tiny stand-ins of every hub repository (real ids,
# formats, special ids, revisions), offline, on CPU: `all released` of config/paper.yaml with
# the overlay config/rehearsal.yaml (sizes, steps, document limits, device, dtype,
# resources only). Its own HF_HOME under .rehearsal/ (never your cache); TIDE_REHEARSAL=1
# lets the stand-ins load (a real run refuses them). rehearsal-full: the literal plan (all
# documents, all subtasks, paper steps) on CPU: days, for completeness only.
REHEARSAL ?= $(CURDIR)/.rehearsal
REHEARSAL_ENV = HF_HOME=$(REHEARSAL)/hf_home TIDE_REHEARSAL=1 PATH=$(CURDIR)/$(BIN):$$PATH

rehearsal-hub: setup
	@test -f $(REHEARSAL)/hf_home/rehearsal_hub.json || \
	  PATH=$(CURDIR)/$(BIN):$$PATH tide --config config/paper.yaml rehearsal-hub --out $(REHEARSAL)/hf_home

rehearsal: rehearsal-hub
	mkdir -p $(REHEARSAL)/run
	@start=$$(date +%s); \
	$(REHEARSAL_ENV) $(SNAKEMAKE) --profile workflow/profiles/local -j $(JOBS) -s $(CURDIR)/Snakefile \
	  -d $(REHEARSAL)/run --configfile $(CURDIR)/config/paper.yaml $(CURDIR)/config/rehearsal.yaml -- all released; \
	rc=$$?; echo "make rehearsal: $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

rehearsal-full: rehearsal-hub
	mkdir -p $(REHEARSAL)/run_full
	$(REHEARSAL_ENV) $(SNAKEMAKE) --profile workflow/profiles/local -j $(JOBS) -s $(CURDIR)/Snakefile \
	  -d $(REHEARSAL)/run_full --configfile $(CURDIR)/config/paper.yaml $(CURDIR)/config/rehearsal_full.yaml -- all released

# On a cluster: prefetch on a login node (internet; HF_HOME on a shared filesystem), then
# preflight on a GPU node before committing GPU-hours to `all`.
CONFIG ?= config/paper.yaml
prefetch: setup
	env -u HF_HUB_OFFLINE -u HF_DATASETS_OFFLINE -u TRANSFORMERS_OFFLINE \
	  PATH=$(CURDIR)/$(BIN):$$PATH tide --config $(CONFIG) prefetch

preflight: setup
	HF_HUB_OFFLINE=1 PATH=$(CURDIR)/$(BIN):$$PATH tide --config $(CONFIG) preflight

dryrun-paper: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(SNAKEMAKE) -n all --configfile config/paper.yaml

clean:
	rm -rf .snakemake
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	find reports -maxdepth 1 -type f ! -name README.md -delete
