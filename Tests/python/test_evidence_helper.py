"""The evidence helper (evidence.py): what `attest check --evidence` reads from Python tests."""

import json

import pytest

import evidence


def _records(directory):
    return [json.loads(line) for path in sorted(directory.glob("python-*.jsonl")) for line in path.read_text().splitlines()]


def test_records_the_current_test_and_its_code(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTEST_EVIDENCE_DIR", str(tmp_path))
    evidence.assert_code("PTL_UPSTREAM_DRIFT", "PTL_UPSTREAM_DRIFT")
    evidence.observed("PTL_RECEIPT_WRITE_FAILED")
    assert _records(tmp_path) == [
        {"scope": "Tests/python/test_evidence_helper.py", "test": "test_records_the_current_test_and_its_code", "code": "PTL_UPSTREAM_DRIFT"},
        {"scope": "Tests/python/test_evidence_helper.py", "test": "test_records_the_current_test_and_its_code", "code": "PTL_RECEIPT_WRITE_FAILED"},
    ]


def test_a_failed_assertion_records_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTEST_EVIDENCE_DIR", str(tmp_path))
    with pytest.raises(AssertionError):
        evidence.assert_code("PTL_TOOL_NOT_ALLOWED", "PTL_UPSTREAM_DRIFT")
    assert _records(tmp_path) == []


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("ATTEST_EVIDENCE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    evidence.observed("PTL_UPSTREAM_DRIFT")
    assert list(tmp_path.iterdir()) == []
