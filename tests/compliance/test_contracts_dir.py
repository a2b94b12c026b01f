"""Every file in contracts/ validates, matches the JSON Schema, and the schema matches the code."""

from __future__ import annotations

import json
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from probe.compliance.contract import ContractSet
from probe.compliance.document import parse_document
from probe.compliance.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2] / "contracts"
FILES = sorted(ROOT.glob("*.toml"))
SCHEMA = json.loads((ROOT / "contract.schema.json").read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


class TestExamples:
    """One example per profile, each valid for both the validator and the schema."""

    def test_every_profile_has_an_example(self) -> None:
        used = set()
        for path in FILES:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
            plans = doc["plan"] if isinstance(doc["plan"], list) else [doc["plan"]]
            used |= {p["profile"] for p in plans}
        assert used == set(PROFILES)

    @pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
    def test_validates(self, path: Path) -> None:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        assert isinstance(parse_document(doc), ContractSet)
        jsonschema.validate(_jsonable(doc), SCHEMA)


class TestSchemaInStep:
    """The schema lists exactly the code's profiles and parameters."""

    def test_profiles_and_parameters(self) -> None:
        assert SCHEMA["$defs"]["plan"]["properties"]["profile"]["enum"] == list(PROFILES)
        for name, spec in PROFILES.items():
            schema_params = SCHEMA["$defs"][f"rules-{name}"]["properties"]
            assert sorted(schema_params) == sorted(spec.parameters)

    @pytest.mark.parametrize(("edit", "fragment"), [
        (lambda d: d["plan"]["rules"].update(bogus=1), "Additional properties"),
        (lambda d: d["plan"]["download"].update(minimum_mbps=-1),
         "less than or equal to the minimum of 0"),
        (lambda d: d["plan"].update(profile="de"), "is not one of"),
        (lambda d: d["contract"].pop("time_zone"), "'time_zone' is a required property"),
    ])
    def test_schema_rejects(self, edit, fragment) -> None:
        doc = _jsonable(tomllib.loads((ROOT / "de-cable-1000.toml").read_text(encoding="utf-8")))
        edit(doc)
        with pytest.raises(jsonschema.ValidationError, match=fragment):
            jsonschema.validate(doc, SCHEMA)
