# The two commands (see README): `make book` and `make test`.
#   make book [PRESET=quick|smoke|paper] [DATA_ROOT=~/data] [DEVICE=auto|cpu|cuda] [DRY_RUN=1]
#             [SOURCE=trained|official] [SOURCE_WORLD_SIZE=N] [CPU_PRECISION=float32|bf16]
#   make test
#   make pretrain PRESET=quick   # regenerate the shipped pre-trained checkpoint
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PRESET ?= quick
DATA_ROOT ?= $(HOME)/data
DEVICE ?= auto
# DRY_RUN=1: every code path of PRESET in seconds, numbers meaningless (lib.dry_run); its book
# renders into _build/dry_run/_build/html, its runs and rows into dry_run/ folders of the caches.
DRY_RUN ?=
# SOURCE=official (paper preset): fine-tune the paper's released networks, imported first with
# python -m lib.weights import FILE --as NAME, instead of pre-training (lib.weights).
SOURCE ?= trained
# SOURCE_WORLD_SIZE=N: the sources were pre-trained data-parallel over N processes
# (torchrun --nproc-per-node=N -m lib.pretrain); their run keys say so, and the fine-tunes find them
SOURCE_WORLD_SIZE ?= 1
# CPU_PRECISION=bf16: the target runs train under bf16 autocast on the CPU (an opt-in, other run
# keys): about 1.7 times as fast with native bf16 (AVX512-BF16, AMX), about 10 times slower where
# it is emulated (AVX2 only); the first page says which. Default float32 (CUDA: bf16 either way).
CPU_PRECISION ?= float32
DRY := $(filter 1 true True TRUE yes Yes YES,$(DRY_RUN))
BOOK_ROOT := $(if $(DRY),_build/dry_run,.)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(BOOK_ROOT)/book/executed

.PHONY: book test pretrain pretrain-adversarial check-preset preflight venv data notebooks html clean

# Fashion-MNIST (the data target) is the smoke and quick presets' target; paper does not read it.
book: check-preset venv preflight $(if $(filter paper,$(PRESET)),,data) notebooks html

check-preset:  # fails in seconds, before any install, naming the valid presets and devices
	@$(PYTHON) -m lib.presets check "$(PRESET)" --device "$(DEVICE)" --data-root "$(DATA_ROOT)" \
	  --dry-run "$(DRY_RUN)" --source "$(SOURCE)" --source-world-size "$(SOURCE_WORLD_SIZE)" \
	  --cpu-precision "$(CPU_PRECISION)"

# Every dataset the preset reads from DATA_ROOT is there, before any notebook runs: one error
# names each missing one, where it was looked for and how to get it (smoke, quick: none).
preflight: check-preset venv
	@$(BIN)/python -m lib.preflight "$(PRESET)" "$(DATA_ROOT)"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@echo "Installing into $(VENV): requirements.txt (pinned) and this library, editable (minutes, once)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

data: venv  # the embedded data: Fashion-MNIST (Debian package, else a download into data_cache/)
	@if ! $(BIN)/python -c "import sys; from lib.data.fashion_mnist import located; \
	    sys.exit(located('$(DATA_ROOT)') is None)" && command -v apt-get >/dev/null \
	    && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } || true; \
	fi
	@$(BIN)/python -c "import sys; from lib.data.fashion_mnist import main; sys.exit(main(sys.argv[1:]))" \
	  "$(DATA_ROOT)"

# Each notebook runs into book/executed/.partial/ and replaces book/executed/NAME only when it
# succeeds (lib.execution): a failed or killed notebook never replaces the last good one.
# Training progress goes to book/executed/logs/NAME.progress.log (PROGRESS_LOG), streamed here;
# a failure prints one line (the failing cell's error), its traceback goes to logs/NAME.error.log;
# a failed or interrupted (Ctrl-C) execution is kept in .failed/, a killed one in .partial/.
# data_root reaches the kernel as $DATA_ROOT, so no page shows the builder's folders.
notebooks: check-preset venv preflight
	@mkdir -p $(EXECUTED)
	$(if $(and $(DRY),$(filter paper,$(PRESET))),@$(BIN)/python -m lib.weights dry-run-fixtures)
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb); start=$$SECONDS; \
	  echo "== $$name (preset $(PRESET)): executing into $(EXECUTED)/$$name" \
	       "(progress also in $(EXECUTED)/logs/$${name%.ipynb}.progress.log)"; \
	  $(BIN)/python -m lib.execution "$$nb" $(EXECUTED) \
	    -p preset "$(PRESET)" -p data_root "$(DATA_ROOT)" -p device "$(DEVICE)" -b dry_run "$(DRY_RUN)" \
	    -p source "$(SOURCE)" -i source_world_size "$(SOURCE_WORLD_SIZE)" \
	    -p cpu_precision "$(CPU_PRECISION)" || { rc=$$?; if [ $$rc -gt 128 ] && [ $$rc -ne 130 ]; then \
	      echo "!! $$name killed (signal $$((rc - 128))): the half-run execution is in" \
	           "$(EXECUTED)/.partial/$$name; the last good $(EXECUTED)/$$name, if any, is kept"; \
	    fi; exit $$rc; }; \
	  echo "== $$name done in $$(( (SECONDS - start) / 60 )) min $$(( (SECONDS - start) % 60 )) s"; \
	done

html: venv
	@echo "Rendering the book with Jupyter Book (strict: a warning fails the build)"
	$(if $(DRY),$(BIN)/python -m lib.book --stage-dry-run $(BOOK_ROOT))
	$(BIN)/python -m lib.book $(BOOK_ROOT)/book/generated $(EXECUTED)
	$(BIN)/jupyter-book build $(BOOK_ROOT) --all --warningiserror --keep-going --quiet
	@echo "The book is at file://$(abspath $(BOOK_ROOT)/_build/html/index.html)"

test: venv data
	RUNS_DIR=$$(mktemp -d) RESULTS_DIR=$$(mktemp -d) CACHE_DIR=$$(mktemp -d) \
	  $(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --nbval-current-env -p no:cacheprovider

pretrain: check-preset venv data  # the clean source model every section fine-tunes
	$(BIN)/python -m lib.pretrain --preset "$(PRESET)" --data-root "$(DATA_ROOT)" --device "$(DEVICE)"

pretrain-adversarial: check-preset venv data  # the adversarially pre-trained source of §3.3
	$(BIN)/python -m lib.pretrain --adversarial --preset "$(PRESET)" --data-root "$(DATA_ROOT)" --device "$(DEVICE)"

clean:
	rm -rf _build book/executed book/generated
