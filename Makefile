# Two commands for a fresh machine:  make run  (the service)   make test  (the tests)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit test-next faults bench install clean docs

# The newest supported Python beside the one above (pyproject.toml: 3.11 to 3.13), for a second
# run of the unit tests: python3.13 or python3.12 on PATH, else pyenv's; empty if none runs here
# (a pyenv shim of a version that is not active fails, so each candidate is tried, not just found).
PYENV_ROOT ?= $(HOME)/.pyenv
NEXT_PYTHON ?= $(firstword $(foreach v,3.13 3.12,$(shell for p in python$(v) \
	$(wildcard $(PYENV_ROOT)/versions/$(v).*/bin/python$(v)); do "$$p" -c '' >/dev/null 2>&1 && command -v "$$p" && break; \
	done)))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,docs]'
	touch $(STAMP)

install: $(STAMP)

## run: install, then `syndication up`: the API, every worker and, with no partners file, the demo
## partner's receiver, in the foreground (starts a local Redis if none answers; cli/demo.py has the defaults)
run: $(STAMP)
	$(BIN)/syndication up

## test: install, then the whole suite (unit + integration on throwaway redis-servers) on $(TEST_WORKERS)
## pytest-xdist workers (whole files each; tests/support/parallel.py), then the unit tests again on
## the newest supported Python (test-next). test-next's venv is made meanwhile (niced: the suite
## mostly waits on processes and sockets), its pip output in $(NEXT_VENV_LOG).
TEST_WORKERS ?= 2
# make itself, named so that `make -n test` only prints this recipe: make runs any recipe line that
# says $(MAKE) even under -n, and this one runs the suite (the tutorials' test dry-runs `make test`).
SUBMAKE = $(MAKE_COMMAND)
NEXT_VENV_LOG := build/next-venv.log
test: $(STAMP)
	@mkdir -p build; nice -n 10 $(SUBMAKE) --no-print-directory next-venv >$(NEXT_VENV_LOG) 2>&1 & venv=$$!; \
	echo "$(BIN)/pytest -n $(TEST_WORKERS)"; $(BIN)/pytest -n $(TEST_WORKERS); rc=$$?; \
	wait $$venv; venv_rc=$$?; cat $(NEXT_VENV_LOG); \
	[ $$rc -eq 0 ] || exit $$rc; [ $$venv_rc -eq 0 ] || exit $$venv_rc; \
	$(SUBMAKE) --no-print-directory test-next

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

## next-venv: .venv-3.13 (or -3.12) for test-next, made when missing or older than pyproject.toml
.PHONY: next-venv
next-venv:
	@py="$(NEXT_PYTHON)"; [ -n "$$py" ] || exit 0; \
	venv=.venv-$$("$$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	if [ ! $$venv/.installed -nt pyproject.toml ]; then \
	  echo "test-next: making $$venv with $$py"; \
	  "$$py" -m venv $$venv && $$venv/bin/pip install -q --upgrade pip && \
	  $$venv/bin/pip install -q -e '.[dev]' && touch $$venv/.installed || exit 1; fi

## test-next: the unit tests on Python 3.13 (or 3.12) in .venv-3.13, made on first use; skipped, saying
## so, where neither is installed. DeprecationWarnings are errors there: what the next Python removes
test-next: next-venv
	@py="$(NEXT_PYTHON)"; \
	if [ -z "$$py" ]; then \
	  echo "test-next: SKIPPED: no python3.13 or python3.12 here (PATH or pyenv); the unit tests ran on $$($(PYTHON) -V 2>&1) only"; \
	  exit 0; fi; \
	venv=.venv-$$("$$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	echo "$$venv/bin/pytest tests/unit -q -W error::DeprecationWarning"; \
	$$venv/bin/pytest tests/unit -q -W error::DeprecationWarning

## faults: the full fault-injection suite (8 scenarios x 1,200 events; about 10 minutes)
faults: $(STAMP)
	$(BIN)/pytest tests/faults --faults-full -s

## scale: several hosts in network namespaces (root, iproute2): worker host B killed, then cut off for 30 s,
## and deliveries/s with one worker host vs two (README, Scaling out; about 5 minutes; writes docs/scale.json)
.PHONY: scale
scale: $(STAMP)
	$(BIN)/pytest tests/scale --scale

## bench: the feed benchmarks (see README, Benchmarks)
bench: $(STAMP)
	$(BIN)/python benchmarks/feeds.py

## docs: the documentation site into build/docs (Sphinx + Furo), strict: any warning (a broken link, a page
## in no toctree) fails it. The reference pages are generated from the code as it builds (docs/refgen/).
## `make test` runs the same build (tests/unit/test_docs_reference.py; about 5 s of CPU)
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs build/docs
	@echo "docs: build/docs/index.html"

clean:
	rm -rf $(VENV) .venv-3.* .data build *.egg-info
