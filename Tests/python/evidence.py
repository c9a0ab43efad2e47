"""Evidence for `attest check --evidence`: records that the running test observed a
registry code (spec/errors.md).

Enabled by the environment variable ATTEST_EVIDENCE_DIR (`make test` sets it): each
observation is one JSON line {"scope": "Tests/python/<file>.py", "test": <function>,
"code": <code>} appended to python-<pid>.jsonl in that directory. Call `observed(code)`
only after the test has asserted that code; `assert_code` does both.
"""

import json
import os
import pathlib


def _current_test():
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    nodeid = current.rsplit(" ", 1)[0]
    path, _, rest = nodeid.partition("::")
    name = rest.split("::")[-1].split("[")[0]
    if not path or not name:
        return None
    return "Tests/python/" + pathlib.PurePosixPath(path).name, name


def observed(code):
    directory = os.environ.get("ATTEST_EVIDENCE_DIR")
    test = _current_test()
    if not directory or test is None:
        return
    os.makedirs(directory, exist_ok=True)
    line = json.dumps({"scope": test[0], "test": test[1], "code": code}, ensure_ascii=False) + "\n"
    # One write per line in append mode: lines of concurrent processes do not interleave.
    fd = os.open(os.path.join(directory, f"python-{os.getpid()}.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def assert_code(actual, code, context=None):
    """Asserts that `actual` is exactly the registry code `code`, then records it."""
    assert actual == code, f"expected {code}, got {actual!r}" + (f": {context}" if context is not None else "")
    observed(code)
