#!/usr/bin/env python3
"""A second implementation of the attest operations, for the conformance runner.

This file is a template: copy it, keep the protocol part and the op table, and fill in
ops in your own language's idiom. The ops live in attest_core.py (json, encoding,
signatures, keys) and the impl_*.py modules (one per group of documents).

Protocol (driven by `attest conformance --impl "<command>"`):

* per process: `attest_impl.py <op>` reads one JSON object
  `{"context": {...}, "input": {...}}` from stdin and writes one JSON object
  `{"result": "valid", "output": {...}}` or `{"result": "invalid", "error": "CODE"}`
  (plus an optional free-text "message") to stdout, then exits 0. Exit code 3 means "this op is not supported".
* JSONL: `attest_impl.py --jsonl` reads one request per line,
  `{"op": ..., "context": ..., "input": ...}`, and answers each with one line of the
  same shape (or `{"unsupported": true}`), flushing after every line. EOF ends it.

All byte strings in inputs and outputs are hex (lowercase on output).
"""

from __future__ import annotations

import importlib
import json
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import attest_core  # noqa: E402
from attest_core import *  # noqa: E402,F401,F403  (selftest.py reaches the primitives through this module)
from attest_core import BadRequest, NumberLiteral, OpError, Unsupported, _dump  # noqa: E402

# Modules holding the ops of the other documents; each defines OPS = {name: function}.
# A module that is absent is skipped, so its ops are answered as unsupported.
OP_MODULES = ("impl_identity", "impl_mcp", "impl_log", "impl_policy", "impl_bundle", "impl_statement", "impl_witness")


def _op_table() -> dict:
    table = dict(attest_core.OPS)
    for name in OP_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        table.update(module.OPS)
    return table


# --- Protocol ---------------------------------------------------------------------------

# To add an op: write op_x(context, input) -> output dict in a module, raising
# OpError(code) to reject, Unsupported to skip; then register it in that module's OPS.
OPS = _op_table()

EXIT_UNSUPPORTED = 3
EXIT_BAD_REQUEST = 2
DEBUG = bool(os.environ.get("ATTEST_IMPL_DEBUG"))


def handle(op: str, request) -> dict:
    """Run one request. Returns the response object; raises Unsupported or BadRequest."""
    if op not in OPS:
        raise Unsupported(f"unknown op {op!r}")
    if not isinstance(request, dict):
        raise BadRequest("the request is not a JSON object")
    context = request.get("context") or {}
    inp = request.get("input") or {}
    if not isinstance(context, dict) or not isinstance(inp, dict):
        raise BadRequest("context and input must be objects")
    try:
        output = OPS[op](context, inp)
    except OpError as e:
        if DEBUG:
            print(f"{op}: {e}", file=sys.stderr)
        # "message" is optional and free text; the runner shows it next to a failure.
        return {"result": "invalid", "error": e.code, "message": str(e)}
    return {"result": "valid", "output": output}


def load_request(text: bytes):
    # Every non-integer number keeps its literal (attest_core.NumberLiteral, a float), so
    # that the exact-number rule of json.md can see the text it was sent; integers are
    # exact Python ints already.
    return json.loads(text, parse_float=attest_core.NumberLiteral)


def run_once(op: str) -> int:
    try:
        response = handle(op, load_request(sys.stdin.buffer.read()))
    except Unsupported as e:
        if DEBUG:
            print(e, file=sys.stderr)
        return EXIT_UNSUPPORTED
    except (BadRequest, ValueError) as e:  # ValueError: stdin is not JSON
        print(f"bad request: {e}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    sys.stdout.write(_dump(response) + "\n")
    sys.stdout.flush()
    return 0


def run_jsonl() -> int:
    # Exactly one response line per request line, flushed at once: the runner waits
    # for each answer before sending the next request.
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = load_request(line)
            op = request.get("op") if isinstance(request, dict) else None
            response = handle(op, request)
        except Unsupported as e:
            if DEBUG:
                print(e, file=sys.stderr)
            response = {"unsupported": True}
        except Exception as e:  # BadRequest, ValueError (line is not JSON), or a bug
            # Not part of the protocol: the runner counts it as a failure, and the
            # stream stays in step for the next request.
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
            response = {"result": "error", "message": f"{type(e).__name__}: {e}"}
        sys.stdout.write(_dump(response) + "\n")
        sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: attest_impl.py <op> | --jsonl", file=sys.stderr)
        return EXIT_BAD_REQUEST
    if argv[1] == "--jsonl":
        return run_jsonl()
    return run_once(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
