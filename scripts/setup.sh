#!/usr/bin/env bash
# Installs everything the tests and the demo need into ./.venv (Python tools: moto,
# cfn-lint, the SAM CLI, cargo-lambda). Idempotent: re-runs only when
# requirements-dev.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp=$venv/.installed
if [ -f "$stamp" ] && cmp -s requirements-dev.txt "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
echo "setup: tools installed in $venv"
