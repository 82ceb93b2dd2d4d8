# The two commands (see README): `make book` and `make test`.
#   make book [PRESET=quick|smoke|paper] [DATA_ROOT=~/data] [DEVICE=auto|cpu|cuda]
#   make test
#   make pretrain PRESET=quick   # regenerate the shipped pre-trained checkpoint
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PRESET ?= quick
DATA_ROOT ?= $(HOME)/data
DEVICE ?= auto
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := book/executed
FMNIST_DEBIAN := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: book test pretrain pretrain-adversarial check-preset preflight venv data notebooks html clean

# Fashion-MNIST (the data target) is the smoke and quick presets' target; paper does not read it.
book: check-preset venv preflight $(if $(filter paper,$(PRESET)),,data) notebooks html

check-preset:  # fails in seconds, before any install, naming the valid presets and devices
	@$(PYTHON) -m lib.presets check "$(PRESET)" --device "$(DEVICE)" --data-root "$(DATA_ROOT)"

# Every dataset the preset reads from DATA_ROOT is there, before any notebook runs: one error
# names each missing one, where it was looked for and how to get it (smoke, quick: none).
preflight: check-preset venv
	@$(BIN)/python -m lib.data.preflight "$(PRESET)" "$(DATA_ROOT)"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@echo "Installing into $(VENV): requirements.txt (pinned) and this library, editable (minutes, once)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

data: venv  # the embedded data: Fashion-MNIST (Debian package, else torchvision download)
	@if [ -f "$(FMNIST_DEBIAN)" ] || ls "$(DATA_ROOT)"/FashionMNIST/raw/train-images-idx3-ubyte* >/dev/null 2>&1 \
	    || ls "$(DATA_ROOT)"/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then \
	  echo "Fashion-MNIST: found"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    { apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }; }; then \
	  echo "Fashion-MNIST: installed Debian's dataset-fashion-mnist"; \
	elif $(BIN)/python -c "import torchvision; torchvision.datasets.FashionMNIST('$(DATA_ROOT)', download=True)"; then \
	  echo "Fashion-MNIST: downloaded to $(DATA_ROOT)/FashionMNIST"; \
	else \
	  echo "error: Fashion-MNIST is missing. Install Debian's package (sudo apt-get install dataset-fashion-mnist)" \
	       "or put the four IDX files in $(DATA_ROOT)/FashionMNIST/raw/ (https://github.com/zalandoresearch/fashion-mnist)" >&2; \
	  exit 1; \
	fi

# Each notebook runs into book/executed/.partial/ and replaces book/executed/NAME only when it
# succeeds (lib.execution): a failed or killed notebook never replaces the last good one.
# Training progress goes to book/executed/logs/NAME.progress.log (PROGRESS_LOG), streamed here;
# a failure prints one line (the failing cell's error), its traceback goes to logs/NAME.error.log.
notebooks: check-preset venv preflight
	@mkdir -p $(EXECUTED)
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb); start=$$SECONDS; \
	  echo "== $$name (preset $(PRESET)): executing into $(EXECUTED)/$$name" \
	       "(progress also in $(EXECUTED)/logs/$${name%.ipynb}.progress.log)"; \
	  $(BIN)/python -m lib.execution "$$nb" $(EXECUTED) \
	    -p preset "$(PRESET)" -p data_root "$(DATA_ROOT)" -p device "$(DEVICE)"; \
	  echo "== $$name done in $$(( (SECONDS - start) / 60 )) min $$(( (SECONDS - start) % 60 )) s"; \
	done

html: venv
	@echo "Rendering the book with Jupyter Book (strict: a warning fails the build)"
	$(BIN)/python -m lib.book book/generated $(EXECUTED)
	$(BIN)/jupyter-book build . --all --warningiserror --keep-going --quiet
	@echo "The book is at file://$(abspath _build/html/index.html)"

test: venv data
	RUNS_DIR=$$(mktemp -d) RESULTS_DIR=$$(mktemp -d) \
	  $(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --nbval-current-env -p no:cacheprovider

pretrain: check-preset venv data  # the clean source model every section fine-tunes
	$(BIN)/python -m lib.pretrain --preset "$(PRESET)" --data-root "$(DATA_ROOT)" --device "$(DEVICE)"

pretrain-adversarial: check-preset venv data  # the adversarially pre-trained source of §3.3
	$(BIN)/python -m lib.pretrain --adversarial --preset "$(PRESET)" --data-root "$(DATA_ROOT)" --device "$(DEVICE)"

clean:
	rm -rf _build $(EXECUTED) book/generated
