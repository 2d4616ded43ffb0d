# Two commands for a fresh machine:  make run  (the service)   make test  (the tests)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit faults bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install, then `syndication up`: the API, every worker and, with no partners file, the demo
## partner's receiver, in the foreground (starts a local Redis if none answers; cli/demo.py has the defaults)
run: $(STAMP)
	$(BIN)/syndication up

## test: install, then the whole suite (unit + integration on throwaway redis-servers)
test: $(STAMP)
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

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

clean:
	rm -rf $(VENV) .data build *.egg-info
