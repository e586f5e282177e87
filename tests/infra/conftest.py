"""Shared fixtures: every Bicep file parsed once with pycep (a Lark-based Bicep parser)."""

import json
from pathlib import Path

import pytest
from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


@pytest.fixture(scope="session")
def parsed():
    """Map 'main.bicep' / 'modules/x.bicep' -> pycep JSON; fails on the first unparsable file."""
    parser = BicepParser()
    return {str(p.relative_to(INFRA)): parser.parse(file_path=p) for p in BICEP_FILES}


@pytest.fixture(scope="session")
def function_jsons():
    """Map function name -> parsed function.json from the repository's functions/ folder."""
    out = {}
    for path in sorted((REPO / "functions").glob("*/function.json")):
        out[path.parent.name] = json.loads(path.read_text())
    return out
