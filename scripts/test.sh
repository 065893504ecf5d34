#!/usr/bin/env bash
# Install everything the tests need (Python packages in .venv, Debian's Chromium) and run them all.
# The browser tests fail, not skip, when Chromium is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/lib/chromium/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Lint and formatting first (ruff.toml): a second, cheap check that the code stays one readable style.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
exec .venv/bin/python -m pytest "$@"
