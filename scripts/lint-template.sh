#!/usr/bin/env bash
# The SAM template checked by the real SAM CLI and cfn-lint.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
if [ ! -f template.yaml ]; then echo "lint-template: no template.yaml yet"; exit 0; fi
cfn-lint template.yaml
sam validate --lint --template template.yaml
