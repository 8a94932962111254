#!/usr/bin/env bash
# The SAM templates checked by the real SAM CLI and cfn-lint: the central stack
# (template.yaml), the member account stack (member.yaml) and the organization read role
# (organization.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
if [ ! -f template.yaml ]; then echo "lint-template: no template.yaml yet"; exit 0; fi
templates=(template.yaml)
for t in member.yaml organization.yaml; do
  if [ -f "$t" ]; then templates+=("$t"); fi
done
cfn-lint "${templates[@]}"
for t in "${templates[@]}"; do
  sam validate --lint --template "$t"
done
