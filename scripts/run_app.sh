#!/usr/bin/env bash
# Install what the app needs in .venv and open the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
exec .venv/bin/python -m streamlit run streamlit_app.py "$@"
