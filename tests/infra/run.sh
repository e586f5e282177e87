#!/usr/bin/env bash
# Runs the infrastructure and packaging tests: creates .venv/ at the repository root (once),
# installs tests/infra/requirements.txt (pycep-parser, pytest) into it, then runs pytest.
# Extra arguments go to pytest. Set FERRY_PACKAGE_ZIP to check an already-built zip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv"
req="$root/tests/infra/requirements.txt"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.infra-requirements"
if ! cmp -s "$req" "$stamp" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
cd "$root"
# -rs lists every skipped test with its reason in the summary (pytest counts them apart from
# the passed ones; on CI the one skip there is, in test_package.py, fails instead).
exec "$venv/bin/python" -m pytest tests/infra -q -rs "$@"
