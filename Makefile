# gridgate: `make demo` and `make test` set up everything they need on a fresh Debian 12.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FACE_RECOGNITION := face-recognition==1.3.0
# System packages: mosquitto (broker for tests and demo), libzbar0 (pyzbar decoder),
# chromium (panel browser tests), python3-venv (the venv itself), fonts for CJK text on cards,
# espeak-ng (the gate display's spoken prompts, made when the venv is built).
APT_PACKAGES := mosquitto libzbar0 chromium python3-venv fonts-noto-cjk shellcheck espeak-ng
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup sysdeps venv test demo lint bench clean

all: test

setup: sysdeps venv

sysdeps:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	ldconfig -p 2>/dev/null | grep -q libzbar.so.0 || missing="$$missing libzbar0"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	$(PYTHON) -c 'import ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing="$$missing fonts-noto-cjk"; \
	command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps $(FACE_RECOGNITION)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m edge.display.prompts --out $(VENV)/share/gridgate/prompts >/dev/null
	touch $(STAMP)

venv: $(STAMP)

# Lint first: a type error or a ruff finding fails `make test` before any test runs.
test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

# At a terminal the demo stays up (videos loop) so the panel can be tried; Ctrl-C ends it.
demo: setup
	$(VENV)/bin/gridgate demo $$([ -t 0 ] && echo --stay)

# ruff, then mypy on edge gate vision sync (settings: [tool.mypy] in pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check edge gate vision sync tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var artifacts .mypy_cache
