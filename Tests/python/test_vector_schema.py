"""The published vector JSON Schema accepts every extracted vector and rejects what the
Swift validator rejects, so spec/vector.schema.json and VectorSchema.swift agree."""
import copy
import json

import jsonschema
import pytest

from conftest import ROOT

SCHEMA = json.loads((ROOT / "spec" / "vector.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def all_vectors():
    index = json.loads((ROOT / "vectors" / "index.json").read_text())
    for entry in index["files"]:
        for v in json.loads((ROOT / "vectors" / entry["file"]).read_text())["vectors"]:
            yield v


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_extracted_vector_matches_the_schema():
    vectors = list(all_vectors())
    assert len(vectors) >= 160
    for v in vectors:
        VALIDATOR.validate(v)


def test_index_hashes_match_files():
    import hashlib
    index = json.loads((ROOT / "vectors" / "index.json").read_text())
    for entry in index["files"]:
        data = (ROOT / "vectors" / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]


VALID = {"id": "x-valid", "op": "json.parse", "description": "d", "covers": ["JSON-001"],
         "input": {}, "expected": {"result": "valid", "output": {}}}
INVALID = {"id": "x-invalid", "op": "json.parse", "description": "d", "covers": ["JSON-001"], "input": {},
           "expected": {"result": "invalid", "error": "JSON_SYNTAX"}, "base": "x-valid", "mutation": "m"}


@pytest.mark.parametrize("mutate", [
    lambda v: v.pop("description"),
    lambda v: v.update(note=1),
    lambda v: v.update(covers=[]),
    lambda v: v.update(covers=["json-001"]),
    lambda v: v.update(id="Upper"),
    lambda v: v["expected"].update(result="maybe"),
    lambda v: v["expected"].update(error="JSON_SYNTAX"),
    lambda v: v.update(base="x"),
])
def test_schema_rejects_broken_valid_vectors(mutate):
    VALIDATOR.validate(VALID)  # control
    v = copy.deepcopy(VALID)
    mutate(v)
    assert not VALIDATOR.is_valid(v)


@pytest.mark.parametrize("mutate", [
    lambda v: v.pop("base"),
    lambda v: v.pop("mutation"),
    lambda v: v["expected"].pop("error"),
    lambda v: v["expected"].update(output={}),
    lambda v: v["expected"].update(error_any_of=["JSON_SYNTAX", "JSON_TOO_DEEP"]),
    lambda v: v["expected"].update(error="json syntax"),
])
def test_schema_rejects_broken_invalid_vectors(mutate):
    VALIDATOR.validate(INVALID)  # control
    v = copy.deepcopy(INVALID)
    mutate(v)
    assert not VALIDATOR.is_valid(v)
