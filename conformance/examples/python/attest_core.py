#!/usr/bin/env python3
"""Shared primitives of the Python implementation: errors, strict JSON, base64url, JCS,
signatures, JWKs and key discovery, with the ops of json.md, encoding.md, signatures.md
and keys.md. The other documents' ops live in the impl_*.py modules; attest_impl.py
speaks the conformance protocol and assembles the op table.

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

import base64
import decimal
import hashlib
import json
import os
import re
import sys
import urllib.parse

import rfc8785  # RFC 8785 JCS serializer (Trail of Bits)

# --- Optional backends -------------------------------------------------------------
#
# Ed25519: PyNaCl wraps libsodium, whose crypto_sign_verify_detached *is* the policy
# the protocol specifies, so it is used when installed. Without it we fall back to
# pyca/cryptography (OpenSSL) plus libsodium's extra checks written out by hand below;
# the self-test runs both backends over the Wycheproof and CCTV vectors.
try:
    import nacl.exceptions
    import nacl.signing

    HAVE_NACL = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_NACL = False

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

# ML-DSA-65 (FIPS 204) arrived in pyca/cryptography 47; with an older version the
# ML-DSA inputs are reported as unsupported and everything else still works.
try:
    from cryptography.hazmat.primitives.asymmetric import mldsa

    HAVE_MLDSA = hasattr(mldsa, "MLDSA65PublicKey")
except ImportError:  # pragma: no cover
    HAVE_MLDSA = False


def _dump(obj) -> str:
    # ensure_ascii keeps the output pure ASCII whatever the locale.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


# --- Errors --------------------------------------------------------------------------


class OpError(Exception):
    """A rejection with a registry code: answered as {"result": "invalid", "error": code}."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class Unsupported(Exception):
    """This op (or this input, e.g. an algorithm we lack) is not supported: exit 3."""


class BadRequest(Exception):
    """The request itself is malformed (missing field, bad hex): a harness error."""


# --- Small helpers ---------------------------------------------------------------------

_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*")


def from_hex(value, field: str) -> bytes:
    # bytes.fromhex also accepts spaces; the protocol does not, so check first.
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
        raise BadRequest(f"{field} is not a hex string")
    return bytes.fromhex(value)


def field(obj: dict, name: str, kind=str):
    if not isinstance(obj, dict) or name not in obj:
        raise BadRequest(f"input has no {name!r}")
    value = obj[name]
    if kind is not None and not isinstance(value, kind):
        raise BadRequest(f"input {name!r} has the wrong type")
    return value


# --- Strict JSON parser (json.parse, jcs.canonicalize) --------------------------------
#
# Python's json module accepts NaN, duplicate names, lone surrogates and huge numbers
# and reports every failure the same way, so the protocol needs its own parser. The
# checks run in a fixed order, so that every input has exactly one error code:
#   1. size, 2. byte-order mark, 3. UTF-8 of the whole input,
#   4. the grammar in document order; the first problem met wins.

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 64

_WS = " \t\n\r"  # JSON whitespace; nothing else (no NBSP, no form feed)
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")
# A run of string characters that need no special handling.
_PLAIN_RE = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def check_utf8(data: bytes) -> str:
    """Decode strictly; classify the first ill-formed sequence if there is one.

    Python's strict UTF-8 decoder implements RFC 3629 exactly (no overlongs, no
    surrogates, nothing above U+10FFFF), and e.start is the first byte of the first
    ill-formed sequence, scanning left to right. An encoded surrogate (ED A0..BF, then a
    continuation byte), as CESU-8 / WTF-8 emit, gets its own code.
    """
    try:
        return data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        i = e.start
        if (
            i + 2 < len(data)
            and data[i] == 0xED
            and 0xA0 <= data[i + 1] <= 0xBF
            and 0x80 <= data[i + 2] <= 0xBF
        ):
            raise OpError("JSON_LONE_SURROGATE", f"UTF-8-encoded surrogate at byte {i}")
        raise OpError("JSON_INVALID_UTF8", f"ill-formed UTF-8 at byte {i}")


class _Parser:
    """Recursive-descent parser over the decoded text.

    Values map to Python: object -> dict, array -> list, string -> str,
    number -> float (JCS treats every number as an IEEE double), true/false -> bool,
    null -> None.
    """

    def __init__(self, text: str, max_depth: int, keep_literals: bool = False):
        self.s = text
        self.i = 0
        self.max_depth = max_depth
        self.keep_literals = keep_literals

    def syntax(self, what: str) -> OpError:
        return OpError("JSON_SYNTAX", f"{what} at character {self.i}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in _WS:
            i += 1
        self.i = i

    def parse_document(self):
        self.skip_ws()
        value = self.value(0)
        self.skip_ws()
        if self.i != len(self.s):
            raise self.syntax("unexpected data after the top-level value")
        return value

    def value(self, depth: int):
        c = self.peek()
        if c == "{":
            return self.obj(depth + 1)
        if c == "[":
            return self.array(depth + 1)
        if c == '"':
            return self.string()
        if c == "-" or "0" <= c <= "9":  # ("0" <= "" is False at the end of input)
            return self.number()
        for literal, result in (("true", True), ("false", False), ("null", None)):
            if c == literal[0]:
                if not self.s.startswith(literal, self.i):
                    raise self.syntax("invalid literal")
                self.i += len(literal)
                return result
        raise self.syntax("unexpected end of input" if c == "" else "unexpected character")

    def enter(self, depth: int) -> None:
        # Checked when the bracket is met, before anything inside it is read, so a
        # too-deep document fails here even if it is also broken further on.
        if depth > self.max_depth:
            raise OpError("JSON_TOO_DEEP", f"nesting deeper than {self.max_depth}")
        self.i += 1
        self.skip_ws()

    def array(self, depth: int) -> list:
        self.enter(depth)
        out = []
        if self.peek() == "]":
            self.i += 1
            return out
        while True:
            out.append(self.value(depth))
            self.skip_ws()
            c = self.peek()
            self.i += 1
            if c == "]":
                return out
            if c != ",":
                self.i -= 1
                raise self.syntax("expected ',' or ']'")
            self.skip_ws()

    def obj(self, depth: int) -> dict:
        self.enter(depth)
        out = {}
        if self.peek() == "}":
            self.i += 1
            return out
        while True:
            if self.peek() != '"':
                raise self.syntax("expected a member name")
            name = self.string()
            # Names are compared after unescaping, code point by code point (no
            # normalization): exactly Python str equality.
            if name in out:
                raise OpError("JSON_DUPLICATE_MEMBER", f"duplicate member name {name!r}")
            self.skip_ws()
            if self.peek() != ":":
                raise self.syntax("expected ':'")
            self.i += 1
            self.skip_ws()
            out[name] = self.value(depth)
            self.skip_ws()
            c = self.peek()
            self.i += 1
            if c == "}":
                return out
            if c != ",":
                self.i -= 1
                raise self.syntax("expected ',' or '}'")
            self.skip_ws()

    def hex4(self) -> int:
        if self.i + 4 > len(self.s):
            raise self.syntax("truncated \\u escape")
        digits = self.s[self.i : self.i + 4]
        # Not int(x, 16) alone: it would accept "+1_2" and the like.
        if not _HEX4_RE.fullmatch(digits):
            raise self.syntax("invalid hex digit in \\u escape")
        self.i += 4
        return int(digits, 16)

    def string(self) -> str:
        s = self.s
        self.i += 1  # opening quote
        parts = []
        while True:
            m = _PLAIN_RE.match(s, self.i)
            parts.append(m.group())
            self.i = m.end()
            if self.i >= len(s):
                raise self.syntax("unterminated string")
            c = s[self.i]
            self.i += 1
            if c == '"':
                return "".join(parts)
            if c != "\\":
                self.i -= 1
                raise self.syntax("unescaped control character in string")
            if self.i >= len(s):
                raise self.syntax("unterminated escape")
            e = s[self.i]
            self.i += 1
            if e in _ESCAPES:
                parts.append(_ESCAPES[e])
            elif e == "u":
                cp = self.hex4()
                if 0xD800 <= cp <= 0xDBFF:
                    # A high surrogate must be followed at once by a \u low surrogate.
                    if not s.startswith("\\u", self.i):
                        raise OpError("JSON_LONE_SURROGATE", "high surrogate escape without a low surrogate")
                    self.i += 2
                    low = self.hex4()
                    if not 0xDC00 <= low <= 0xDFFF:
                        raise OpError("JSON_LONE_SURROGATE", "high surrogate escape not followed by a low one")
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                elif 0xDC00 <= cp <= 0xDFFF:
                    raise OpError("JSON_LONE_SURROGATE", "low surrogate escape without a high surrogate")
                parts.append(chr(cp))
            else:
                raise self.syntax("invalid escape")

    def digits(self) -> int:
        s, start = self.s, self.i
        while self.i < len(s) and "0" <= s[self.i] <= "9":
            self.i += 1
        return self.i - start

    def number(self) -> float:
        # Lex the whole token by the RFC 8259 grammar first (a syntax error inside the
        # token wins), then check the range of the value it denotes. A leading zero
        # ends the integer part, so "01" fails later as unexpected data.
        start = self.i
        if self.peek() == "-":
            self.i += 1
        if self.peek() == "0":
            self.i += 1
        elif self.digits() == 0:
            raise self.syntax("expected a digit")
        if self.peek() == ".":
            self.i += 1
            if self.digits() == 0:
                raise self.syntax("expected a digit after '.'")
        if self.peek() in ("e", "E"):
            self.i += 1
            if self.peek() in ("+", "-"):
                self.i += 1
            if self.digits() == 0:
                raise self.syntax("expected a digit in the exponent")
        text = self.s[start : self.i]
        value = float(text)  # correctly rounded; overflow gives inf, never an exception
        if value in (float("inf"), float("-inf")):
            raise OpError("JSON_NUMBER_OUT_OF_RANGE", f"{text} overflows a double")
        if value == 0:
            # Underflow: a non-zero significand digit that rounded to zero ("1e-400").
            # "0.000e-999" is a plain zero and is fine.
            significand = re.split("[eE]", text)[0]
            if any(d in significand for d in "123456789"):
                raise OpError("JSON_NUMBER_OUT_OF_RANGE", f"{text} underflows a double")
        return NumberLiteral(text) if self.keep_literals else value


# json.md JSON-014: nesting beyond this is refused whatever max_depth a caller gives.
MAX_DEPTH_CEILING = 1000


def parse_strict_json(
    data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH, keep_literals: bool = False
):
    """Parse strictly; with keep_literals every number is a NumberLiteral carrying its text."""
    if len(data) > max_bytes:
        raise OpError("JSON_TOO_LARGE", f"{len(data)} bytes > {max_bytes}")
    if data.startswith(b"\xef\xbb\xbf"):
        raise OpError("JSON_BYTE_ORDER_MARK")
    text = check_utf8(data)
    # The parser uses two Python frames per nesting level and stops at max_depth + 1.
    needed = 2 * min(max_depth, len(text)) + 100
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)
    return _Parser(text, min(max_depth, MAX_DEPTH_CEILING), keep_literals).parse_document()


def _as_doubles(value):
    """The value with every int (as json.loads makes them) read as the nearest double."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return _int_as_double(value)
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    raise BadRequest(f"not a JSON value: {type(value).__name__}")


def _int_as_double(value: int) -> float:
    try:
        return float(value)  # correctly rounded
    except OverflowError:  # what the strict parser says of the same literal
        raise OpError("JSON_NUMBER_OUT_OF_RANGE", f"{value} overflows a double")


def canonicalize(value) -> bytes:
    # JCS reads every number as an IEEE double. The strict parser gives floats; values
    # that came through json.loads (inputs of the protocol) may hold ints, read here as
    # doubles (rfc8785 would refuse ints beyond 2**53).
    return rfc8785.dumps(_as_doubles(value))


def _parse_with_context(context: dict, inp: dict):
    data = from_hex(field(inp, "data"), "data")
    limits = {}
    for name, default in (("max_bytes", DEFAULT_MAX_BYTES), ("max_depth", DEFAULT_MAX_DEPTH)):
        value = context.get(name)
        if value is None:
            value = default
        # bool is an int subclass in Python; true/false is not a limit.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadRequest(f"context {name} is not a non-negative integer")
        limits[name] = value
    return parse_strict_json(data, **limits)


def op_json_parse(context: dict, inp: dict) -> dict:
    return {"canonical": canonicalize(_parse_with_context(context, inp)).hex()}


def op_jcs_canonicalize(context: dict, inp: dict) -> dict:
    canonical = canonicalize(_parse_with_context(context, inp))
    return {"canonical": canonical.hex(), "sha256": hashlib.sha256(canonical).hexdigest()}


# --- Exact numbers (json.md §Exact numbers) ---------------------------------------------
#
# A number literal is exact when the decimal value it denotes equals the decimal value of
# the canonical (JCS) form of the double it reads as. Requests reach the ops as Python
# values (attest_impl.py reads them with json.loads), so a fractional literal is kept as a
# NumberLiteral: a float that remembers its text. Integers stay Python ints, which are
# exact and whose text is their decimal value.


class NumberLiteral(float):
    """A JSON number read as a double that keeps its source text (json.loads parse_float)."""

    def __new__(cls, text: str):
        value = super().__new__(cls, text)
        value.literal = text
        return value


def number_is_exact(value) -> bool:
    """True when the literal of a JSON number denotes the value of its double's JCS form."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("not a JSON number")
    if isinstance(value, int):
        literal = str(value)
    else:
        literal = getattr(value, "literal", None) or repr(value)
    try:
        double = float(literal)
        canonical = rfc8785.dumps(double).decode("ascii")
    except (OverflowError, ValueError, rfc8785.FloatDomainError):  # beyond a double
        return False
    # Decimal compares values exactly: 1.0 == 1e0 == 1, and -0 == 0.
    return decimal.Decimal(literal) == decimal.Decimal(canonical)


def first_inexact_number(value):
    """The first number of a JSON value, in document order, that is not exact; else None.
    Walks with an explicit stack, so nesting costs no Python frames."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, (int, float)):
            if not number_is_exact(item):
                return item
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return None


def check_exact_numbers(value) -> None:
    """Raise for the first number, in document order, that is not exact: an integer beyond
    every double is JSON_NUMBER_OUT_OF_RANGE (what the strict parser says of its literal),
    any other JSON_NUMBER_INEXACT."""
    number = first_inexact_number(value)
    if number is None:
        return
    if isinstance(number, int):
        _int_as_double(number)
    raise OpError("JSON_NUMBER_INEXACT", f"{getattr(number, 'literal', number)} is not the value of its double")


def json_equal(a, b) -> bool:
    """JSON equality: numbers by value, strings by code points, booleans apart from numbers,
    objects by their member names and values whatever the order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


# JCS of a JSON value that may hold Python ints (from json.loads).
canonicalize_value = canonicalize


def _as_doubles(value):
    """The value with every int (as json.loads makes them) read as the nearest double."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return _int_as_double(value)
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    raise BadRequest(f"not a JSON value: {type(value).__name__}")


def _int_as_double(value: int) -> float:
    try:
        return float(value)  # correctly rounded
    except OverflowError:  # what the strict parser says of the same literal
        raise OpError("JSON_NUMBER_OUT_OF_RANGE", f"{value} overflows a double")


def canonicalize(value) -> bytes:
    # JCS reads every number as an IEEE double. The strict parser gives floats; values
    # that came through json.loads (inputs of the protocol) may hold ints, read here as
    # doubles (rfc8785 would refuse ints beyond 2**53).
    return rfc8785.dumps(_as_doubles(value))


def _parse_with_context(context: dict, inp: dict):
    data = from_hex(field(inp, "data"), "data")
    limits = {}
    for name, default in (("max_bytes", DEFAULT_MAX_BYTES), ("max_depth", DEFAULT_MAX_DEPTH)):
        value = context.get(name)
        if value is None:
            value = default
        # bool is an int subclass in Python; true/false is not a limit.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadRequest(f"context {name} is not a non-negative integer")
        limits[name] = value
    return parse_strict_json(data, **limits)


def op_json_parse(context: dict, inp: dict) -> dict:
    return {"canonical": canonicalize(_parse_with_context(context, inp)).hex()}


def op_jcs_canonicalize(context: dict, inp: dict) -> dict:
    canonical = canonicalize(_parse_with_context(context, inp))
    return {"canonical": canonical.hex(), "sha256": hashlib.sha256(canonical).hexdigest()}


# --- Exact numbers (json.md §Exact numbers) ---------------------------------------------
#
# A number literal is exact when the decimal value it denotes equals the decimal value of
# the canonical (JCS) form of the double it reads as. Requests reach the ops as Python
# values (attest_impl.py reads them with json.loads), so a fractional literal is kept as a
# NumberLiteral: a float that remembers its text. Integers stay Python ints, which are
# exact and whose text is their decimal value.


class NumberLiteral(float):
    """A JSON number read as a double that keeps its source text (json.loads parse_float)."""

    def __new__(cls, text: str):
        value = super().__new__(cls, text)
        value.literal = text
        return value


def number_is_exact(value) -> bool:
    """True when the literal of a JSON number denotes the value of its double's JCS form."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("not a JSON number")
    if isinstance(value, int):
        literal = str(value)
    else:
        literal = getattr(value, "literal", None) or repr(value)
    try:
        double = float(literal)
        canonical = rfc8785.dumps(double).decode("ascii")
    except (OverflowError, ValueError, rfc8785.FloatDomainError):  # beyond a double
        return False
    # Decimal compares values exactly: 1.0 == 1e0 == 1, and -0 == 0.
    return decimal.Decimal(literal) == decimal.Decimal(canonical)


def first_inexact_number(value):
    """The first number of a JSON value, in document order, that is not exact; else None.
    Walks with an explicit stack, so nesting costs no Python frames."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, (int, float)):
            if not number_is_exact(item):
                return item
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return None


def check_exact_numbers(value) -> None:
    """Raise for the first number, in document order, that is not exact: an integer beyond
    every double is JSON_NUMBER_OUT_OF_RANGE (what the strict parser says of its literal),
    any other JSON_NUMBER_INEXACT."""
    number = first_inexact_number(value)
    if number is None:
        return
    if isinstance(number, int):
        _int_as_double(number)
    raise OpError("JSON_NUMBER_INEXACT", f"{getattr(number, 'literal', number)} is not the value of its double")


def json_equal(a, b) -> bool:
    """JSON equality: numbers by value, strings by code points, booleans apart from numbers,
    objects by their member names and values whatever the order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


def canonicalize_value(value) -> bytes:
    """JCS of a JSON value that may hold Python ints (from json.loads): every number is a
    double, so ints are converted first (rfc8785 refuses ints beyond 2**53)."""
    return rfc8785.dumps(_as_doubles(value))


def _as_doubles(value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return float(value)  # OverflowError beyond a double; callers check ranges first
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    raise TypeError(f"not a JSON value: {type(value).__name__}")


# --- base64url (RFC 4648 §5, unpadded, one spelling per byte string) -----------------

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    # Character by character, left to right: the first bad character decides the code.
    for offset, c in enumerate(text):
        if c in _B64URL_VALUE:
            continue
        if c == "=":
            raise OpError("B64_PADDING", f"'=' at offset {offset}")
        if c in " \t\r\n":
            raise OpError("B64_WHITESPACE", f"whitespace at offset {offset}")
        raise OpError("B64_INVALID_CHARACTER", f"{c!r} at offset {offset} is not in the base64url alphabet")
    if len(text) % 4 == 1:
        raise OpError("B64_INVALID_LENGTH", f"length {len(text)} leaves a single trailing character")
    # The last character of a 2- or 3-character group carries 4 or 2 unused low bits;
    # they must be zero, or one byte string would have several encodings.
    unused_bits = {0: 0, 2: 4, 3: 2}[len(text) % 4]
    if unused_bits and _B64URL_VALUE[text[-1]] & ((1 << unused_bits) - 1):
        raise OpError("B64_NONZERO_TRAILING_BITS", "the unused low bits of the last character are not zero")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def op_b64url_decode(context: dict, inp: dict) -> dict:
    return {"bytes": b64url_decode(field(inp, "encoded")).hex()}


def op_b64url_encode(context: dict, inp: dict) -> dict:
    return {"encoded": b64url_encode(from_hex(field(inp, "bytes"), "bytes"))}


def op_sha256(context: dict, inp: dict) -> dict:
    return {"digest": hashlib.sha256(from_hex(field(inp, "data"), "data")).hexdigest()}


# --- Signatures ------------------------------------------------------------------------

ED25519 = "Ed25519"
MLDSA65 = "ML-DSA-65"
KEY_LENGTH = {ED25519: 32, MLDSA65: 1952}
SIG_LENGTH = {ED25519: 64, MLDSA65: 3309}
SEED_LENGTH = 32
DOMAIN_PREFIX = b"MCP-ATTEST-v1:"


def signed_bytes(message: bytes, domain) -> bytes:
    """"MCP-ATTEST-v1:" || domain || 0x00 || message, or the bare message without a domain."""
    if domain is None:
        return message
    if not isinstance(domain, str):
        raise BadRequest("domain is not a string")
    return DOMAIN_PREFIX + domain.encode("utf-8") + b"\x00" + message


# libsodium 1.0.18's Ed25519 checks (crypto_sign_ed25519_verify_detached, non-COMPAT
# build), for the fallback backend. libsodium rejects, before the equation:
#   * S >= L (sc25519_is_canonical),
#   * R or A in the small-order blocklist below (ge25519_has_small_order),
#   * A whose y coordinate is >= p (ge25519_is_canonical),
# then checks the cofactorless equation by comparing the encoding of [S]B - [k]A with
# the R bytes. OpenSSL does the same byte comparison and also rejects S >= L, so
# "these checks, then OpenSSL" gives libsodium's verdict.
_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_P = 2**255 - 19
# ge25519_has_small_order's list: the y coordinates (sign bit ignored) of the points
# of order 1, 2, 4 and 8, including the non-canonical encodings p, p+1 of 0 and 1.
_SMALL_ORDER_Y = [
    bytes(32),  # 0 (order 4)
    (1).to_bytes(32, "little"),  # 1 (order 1)
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    (_P - 1).to_bytes(32, "little"),  # -1 (order 2)
    _P.to_bytes(32, "little"),  # p, non-canonical 0 (order 4)
    (_P + 1).to_bytes(32, "little"),  # p+1, non-canonical 1 (order 1)
]


_D = (-121665 * pow(121666, _P - 2, _P)) % _P  # the curve constant d


def ed25519_key_decodes(public_key: bytes) -> bool:
    """signatures.md SIG-008: with y the low 255 bits modulo p, (y^2 - 1) / (d y^2 + 1) is a
    square modulo p. RFC 8032 §5.1.3 steps 1-3 without the y < p and x = 0 checks, which
    verification makes (SIG-004): libsodium's crypto_core_ed25519_add decodes so. Not
    crypto_core_ed25519_is_valid_point, which also refuses small-order points."""
    y = (int.from_bytes(public_key, "little") & ((1 << 255) - 1)) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    return x2 == 0 or pow(x2, (_P - 1) // 2, _P) == 1  # Euler's criterion


def _clear_sign_bit(encoding: bytes) -> bytes:
    return encoding[:31] + bytes([encoding[31] & 0x7F])


def _has_small_order(encoding: bytes) -> bool:
    return _clear_sign_bit(encoding) in _SMALL_ORDER_Y


def _is_canonical_point(encoding: bytes) -> bool:
    return int.from_bytes(_clear_sign_bit(encoding), "little") < _P


def ed25519_verify_libsodium_policy(public_key: bytes, message: bytes, signature: bytes, use_nacl=None) -> bool:
    """True iff libsodium 1.0.18's crypto_sign_verify_detached accepts (64-byte sig, 32-byte key)."""
    if use_nacl is None:
        use_nacl = HAVE_NACL
    if use_nacl:
        try:
            nacl.signing.VerifyKey(public_key).verify(message, signature)
            return True
        except nacl.exceptions.BadSignatureError:
            return False
    r, s = signature[:32], signature[32:]
    if int.from_bytes(s, "little") >= _L or _has_small_order(r):
        return False
    if not _is_canonical_point(public_key) or _has_small_order(public_key):
        return False
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):  # ValueError: A is not on the curve
        return False


def ed25519_sign(seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    """(public key, signature); RFC 8032 signing is deterministic, both backends agree."""
    if HAVE_NACL:
        key = nacl.signing.SigningKey(seed)
        return bytes(key.verify_key), key.sign(message).signature
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return key.public_key().public_bytes_raw(), key.sign(message)


def _require_mldsa() -> None:
    if not HAVE_MLDSA:
        raise Unsupported("ML-DSA-65 needs pyca/cryptography >= 47")


def op_signature_verify(context: dict, inp: dict) -> dict:
    alg = field(inp, "alg", kind=None)
    public_key = from_hex(field(inp, "public_key"), "public_key")
    signature = from_hex(field(inp, "signature"), "signature")
    message = signed_bytes(from_hex(field(inp, "message"), "message"), inp.get("domain"))
    if alg not in (ED25519, MLDSA65):  # a tuple: alg may be any JSON value, even a list
        raise OpError("ALG_UNSUPPORTED", f"{alg!r}")
    if alg == MLDSA65:
        _require_mldsa()
    if len(public_key) != KEY_LENGTH[alg]:
        raise OpError("KEY_INVALID", f"{alg} public key is {KEY_LENGTH[alg]} bytes, not {len(public_key)}")
    if alg == ED25519 and not ed25519_key_decodes(public_key):
        raise OpError("KEY_INVALID", "the Ed25519 public key is the encoding of no curve point")
    if alg == MLDSA65:
        try:
            key = mldsa.MLDSA65PublicKey.from_public_bytes(public_key)
        except ValueError:
            raise OpError("KEY_INVALID", "ML-DSA-65 public key does not decode")
    if len(signature) != SIG_LENGTH[alg]:
        raise OpError("SIG_LENGTH", f"{alg} signature is {SIG_LENGTH[alg]} bytes, not {len(signature)}")
    if alg == ED25519:
        ok = ed25519_verify_libsodium_policy(public_key, message, signature)
    else:
        try:
            key.verify(signature, message)  # FIPS 204 with an empty context string
            ok = True
        except InvalidSignature:
            ok = False
    if not ok:
        raise OpError("SIG_INVALID")
    return {}


def op_signature_sign(context: dict, inp: dict) -> dict:
    alg = field(inp, "alg", kind=None)
    seed = from_hex(field(inp, "seed"), "seed")
    message = signed_bytes(from_hex(field(inp, "message"), "message"), inp.get("domain"))
    if alg not in (ED25519, MLDSA65):  # a tuple: alg may be any JSON value, even a list
        raise OpError("ALG_UNSUPPORTED", f"{alg!r}")
    if alg == MLDSA65:
        _require_mldsa()
    if len(seed) != SEED_LENGTH:
        raise OpError("KEY_INVALID", f"a seed is 32 bytes, not {len(seed)}")
    public_key, signature = sign_bytes(alg, seed, message)
    return {"public_key": public_key.hex(), "signature": signature.hex(), "signed_bytes": message.hex()}


def sign_bytes(alg: str, seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    """(public key, signature) of message under the key of a checked alg and 32-byte seed."""
    if alg == ED25519:
        return ed25519_sign(seed, message)
    _require_mldsa()
    # The 32-byte seed is FIPS 204's xi (ML-DSA.KeyGen_internal). Signing is
    # hedged (randomized), so only verification of the output can be checked.
    key = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)
    return key.public_key().public_bytes_raw(), key.sign(message)


def signature_valid(alg: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The verdict on a signature by a key already checked for its suite (a parsed JWK):
    False for a signature of the wrong length, as for one that does not verify."""
    if len(signature) != SIG_LENGTH[alg]:
        return False
    if alg == ED25519:
        return ed25519_verify_libsodium_policy(public_key, message, signature)
    _require_mldsa()
    try:
        mldsa.MLDSA65PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


# --- JWK / JWKS -------------------------------------------------------------------------

PRIVATE_MEMBERS = ("d", "priv", "p", "q", "dp", "dq", "qi", "k")
COMMON_MEMBERS = {"kty", "kid", "use", "key_ops", "alg"}
MAX_JWKS_KEYS = 64


def _jwk_string(jwk: dict, name: str) -> str:
    if name not in jwk:
        raise OpError("JWK_MISSING_MEMBER", f"no {name!r}")
    if not isinstance(jwk[name], str):
        raise OpError("JWK_INVALID_MEMBER", f"{name!r} is not a string")
    return jwk[name]


def _jwk_key_bytes(jwk: dict, name: str) -> bytes:
    text = _jwk_string(jwk, name)
    try:
        return b64url_decode(text)
    except OpError as e:
        raise OpError("JWK_INVALID_MEMBER", f"{name!r}: {e.code}")


def parse_jwk(jwk) -> tuple[str, bytes]:
    """Validate a public JWK strictly; return (thumbprint, canonical thumbprint members)."""
    thumbprint, canonical, _, _ = parse_jwk_key(jwk)
    return thumbprint, canonical


def parse_jwk_key(jwk) -> tuple[str, bytes, str, bytes]:
    """Validate a public JWK strictly; return (thumbprint, canonical thumbprint members,
    suite, public key bytes).

    The checks run in the reference implementation's order, since with several
    problems the first one decides the error code.
    """
    if not isinstance(jwk, dict):
        raise OpError("JWK_INVALID_MEMBER", "a JWK is a JSON object")
    for name in PRIVATE_MEMBERS:
        if name in jwk:
            raise OpError("JWK_PRIVATE_MATERIAL", f"private member {name!r}")
    kty = _jwk_string(jwk, "kty")
    if kty == "OKP":
        if _jwk_string(jwk, "crv") != "Ed25519":
            raise OpError("JWK_UNSUPPORTED_KEY_TYPE", "OKP curve")
        alg, raw, allowed = ED25519, _jwk_key_bytes(jwk, "x"), COMMON_MEMBERS | {"crv", "x"}
    elif kty == "AKP":
        if _jwk_string(jwk, "alg") != MLDSA65:
            raise OpError("JWK_UNSUPPORTED_KEY_TYPE", "AKP algorithm")
        alg, raw, allowed = MLDSA65, _jwk_key_bytes(jwk, "pub"), COMMON_MEMBERS | {"pub"}
    else:
        raise OpError("JWK_UNSUPPORTED_KEY_TYPE", f"kty {kty!r}")
    for name in jwk:
        if name not in allowed:
            raise OpError("JWK_UNKNOWN_MEMBER", f"{name!r}")
    if "alg" in jwk and _jwk_string(jwk, "alg") != alg:
        raise OpError("JWK_INVALID_MEMBER", "alg is not the key's suite")
    if "use" in jwk and _jwk_string(jwk, "use") != "sig":
        raise OpError("JWK_INVALID_MEMBER", 'use must be "sig"')
    if "key_ops" in jwk and jwk["key_ops"] != ["verify"]:
        raise OpError("JWK_INVALID_MEMBER", 'key_ops must be ["verify"]')
    if len(raw) != KEY_LENGTH[alg]:
        raise OpError("JWK_INVALID_MEMBER", f"{alg} key is {KEY_LENGTH[alg]} bytes, not {len(raw)}")
    if alg == ED25519 and not ed25519_key_decodes(raw):
        raise OpError("JWK_INVALID_MEMBER", "x is the encoding of no curve point")
    # RFC 7638: the required members only, JCS-serialized (which sorts them).
    encoded = b64url_encode(raw)
    if alg == ED25519:
        members = {"crv": "Ed25519", "kty": "OKP", "x": encoded}
    else:
        members = {"alg": MLDSA65, "kty": "AKP", "pub": encoded}
    canonical = canonicalize(members)
    thumbprint = b64url_encode(hashlib.sha256(canonical).digest())
    if "kid" in jwk and _jwk_string(jwk, "kid") != thumbprint:
        raise OpError("JWK_INVALID_MEMBER", "kid is not the RFC 7638 thumbprint")
    return thumbprint, canonical, alg, raw


def op_jwk_thumbprint(context: dict, inp: dict) -> dict:
    thumbprint, canonical = parse_jwk(field(inp, "jwk", kind=None))
    return {"thumbprint": thumbprint, "canonical": canonical.hex()}


def parse_jwks(jwks) -> list[str]:
    """Validate a JWK Set; return the keys' thumbprints in order."""
    return [kid for kid, _, _ in parse_jwks_keys(jwks)]


def parse_jwks_keys(jwks) -> list[tuple[str, str, bytes]]:
    """Validate a JWK Set; return (thumbprint, suite, public key bytes) per key, in order."""
    if not isinstance(jwks, dict) or "keys" not in jwks:
        raise OpError("JWK_MISSING_MEMBER", 'a JWKS is an object with "keys"')
    for name in jwks:
        if name != "keys":
            raise OpError("JWK_UNKNOWN_MEMBER", f"{name!r}")
    keys = jwks["keys"]
    if not isinstance(keys, list):
        raise OpError("JWK_INVALID_MEMBER", '"keys" is not an array')
    if len(keys) > MAX_JWKS_KEYS:
        raise OpError("JWKS_TOO_MANY_KEYS")
    # Every key is parsed before duplicates are looked for: a bad key anywhere wins
    # over a duplicate.
    parsed = [parse_jwk_key(key) for key in keys]
    kids = [thumbprint for thumbprint, _, _, _ in parsed]
    if len(set(kids)) != len(kids):
        raise OpError("JWKS_DUPLICATE_KID")
    return [(thumbprint, alg, raw) for thumbprint, _, alg, raw in parsed]


def op_jwks_parse(context: dict, inp: dict) -> dict:
    return {"kids": parse_jwks(field(inp, "jwks", kind=None))}


# --- Issuer metadata and key discovery (keys.md) ----------------------------------------
#
# keys.discovery runs the discovery rules against scripted HTTPS responses and a
# scripted clock; nothing here touches the network.

WELL_KNOWN_PATH = "/.well-known/agent-attestation-issuer"
TOKEN_TYPE = "agent-attestation+jwt"
METADATA_LIMIT = 16384  # KEY-014
JWKS_LIMIT = 65536
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3  # KEY-022
REFETCH_INTERVAL = 60  # KEY-016
FAILURES_BEFORE_PAUSE = 3  # KEY-020
FIRST_PAUSE, MAX_PAUSE = 30, 600


def is_https_url(url) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # a malformed port raises ValueError
    except ValueError:
        return False
    # keys.md: the scheme is written exactly "https"; urlsplit lowercases it, so the text decides.
    return url.startswith("https://") and parts.scheme == "https" and bool(parts.hostname)


def cache_lifetime(header) -> int:
    """Seconds a key set is cached for, from its response's Cache-Control header."""
    if header is None:
        return 3600
    # Directive names compare case-insensitively; spaces and tabs around a directive,
    # its name and its value are ignored (keys.md).
    directives = []
    for item in header.split(","):
        name, _, value = item.partition("=")
        directives.append((name.strip(" \t").lower(), value.strip(" \t")))
    if any(name in ("no-store", "no-cache") for name, _ in directives):
        return 300
    for name, value in directives:
        if name == "max-age":
            if not re.fullmatch(r"[0-9]+", value):  # not str.isdigit: ASCII digits only
                return 3600
            return min(max(int(value), 300), 86400)
    return 3600


class ScriptedWeb:
    """Each URL answers with its scripted responses in turn, the last one repeating."""

    def __init__(self, responses: dict):
        for url, script in responses.items():
            if not isinstance(script, list) or not script or not all(isinstance(r, dict) for r in script):
                raise BadRequest(f"responses for {url!r} are not a non-empty array of objects")
        self.responses = responses
        self.served = {}

    def get(self, url: str):
        """The next response for url, or None for a URL not listed (unreachable)."""
        script = self.responses.get(url)
        if script is None:
            return None
        n = self.served.get(url, 0)
        self.served[url] = n + 1
        return script[min(n, len(script) - 1)]


def fetch_document(web: ScriptedWeb, url: str, limit: int, fetched: list):
    """Fetch one document with the checks of keys.md in order; return (value, response)."""
    redirects = 0
    while True:
        if not is_https_url(url):
            raise OpError("DISC_NOT_HTTPS", url)
        fetched.append(url)
        response = web.get(url)
        if response is None or response.get("transport_error"):
            raise OpError("DISC_TRANSPORT", url)
        body = response.get("body", "").encode("utf-8")
        body = body.ljust(response.get("pad_to", 0), b" ")
        # Scripted responses carry no Content-Length; the limit applies to the bytes read.
        if len(body) > limit:
            raise OpError("DISC_TOO_LARGE", f"{url}: more than {limit} bytes")
        status = response.get("status", 200)
        if status in REDIRECT_STATUSES:
            redirects += 1
            if redirects > MAX_REDIRECTS:  # counted first, whatever the Location
                raise OpError("DISC_REDIRECT_LIMIT", url)
            location = response.get("location")
            if not isinstance(location, str) or not location.strip():
                raise OpError("DISC_HTTP_STATUS", f"{url}: redirect without a Location")
            try:
                target = urllib.parse.urljoin(url, location)
            except ValueError:
                raise OpError("DISC_HTTP_STATUS", f"{url}: unusable Location {location!r}")
            url = target
            continue
        if status != 200:
            raise OpError("DISC_HTTP_STATUS", f"{url}: status {status}")
        return parse_strict_json(body), response


def refresh_key_set(issuer: str, web: ScriptedWeb, fetched: list) -> tuple[set, int]:
    """Fetch the metadata, then the key set; return (kids, cache lifetime in seconds)."""
    metadata_url = (issuer[:-1] if issuer.endswith("/") else issuer) + WELL_KNOWN_PATH
    metadata, _ = fetch_document(web, metadata_url, METADATA_LIMIT, fetched)
    if not isinstance(metadata, dict) or not isinstance(metadata.get("issuer"), str):
        raise OpError("DISC_METADATA_INVALID", "no string issuer")
    if metadata["issuer"] != issuer:
        raise OpError("DISC_ISSUER_MISMATCH", metadata["issuer"])
    jwks_uri = metadata.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise OpError("DISC_METADATA_INVALID", "no string jwks_uri")
    if not is_https_url(jwks_uri):
        raise OpError("DISC_NOT_HTTPS", jwks_uri)
    token_types = metadata.get("token_types")
    if not (
        isinstance(token_types, list)
        and all(isinstance(t, str) for t in token_types)
        and TOKEN_TYPE in token_types
    ):
        raise OpError("DISC_METADATA_INVALID", f"token_types does not list {TOKEN_TYPE}")
    jwks, response = fetch_document(web, jwks_uri, JWKS_LIMIT, fetched)
    kids = parse_jwks(jwks)
    return set(kids), cache_lifetime(response.get("cache_control"))


class IssuerState:
    """What a verifier keeps for its configured issuer between lookups."""

    def __init__(self, issuer: str):
        self.issuer = issuer
        self.kids = None  # the last good key set
        self.cache_end = None
        self.last_attempt = None
        self.failures = 0
        self.pause_end = None

    def fresh(self, now) -> bool:
        return self.kids is not None and now < self.cache_end


def lookup_key(state: IssuerState, web: ScriptedWeb, iss, kid, now, fetched: list):
    """Run one lookup; return None when the key is usable, else the error code."""
    if iss != state.issuer:
        return "TOK_ISSUER_UNTRUSTED"
    due = not state.fresh(now) or (
        kid not in state.kids and now - state.last_attempt >= REFETCH_INTERVAL
    )
    error = None
    if due:
        if state.pause_end is not None and now < state.pause_end:
            return "DISC_CIRCUIT_OPEN"
        state.last_attempt = now
        try:
            kids, lifetime = refresh_key_set(state.issuer, web, fetched)
        except OpError as e:
            error = e.code
            state.failures += 1
            if state.failures >= FAILURES_BEFORE_PAUSE:
                pause = FIRST_PAUSE * 2 ** (state.failures - FAILURES_BEFORE_PAUSE)
                state.pause_end = now + min(pause, MAX_PAUSE)
        else:
            state.kids, state.cache_end, state.failures = kids, now + lifetime, 0
    if state.fresh(now) and kid in state.kids:
        return None
    # A failed refresh only happens when the key is not usable; its code is the error.
    return error or "TOK_KID_UNKNOWN"


def op_keys_discovery(context: dict, inp: dict) -> dict:
    issuer = field(inp, "issuer")
    web = ScriptedWeb(field(inp, "responses", kind=dict))
    lookups = field(inp, "lookups", kind=list)
    if not lookups:
        raise BadRequest("no lookups")
    if not is_https_url(issuer):  # an issuer that is not https cannot be configured at all
        raise OpError("DISC_NOT_HTTPS", f"issuer {issuer!r} is not an https URL")
    state = IssuerState(issuer)
    results = []
    for lookup in lookups:
        iss = lookup.get("iss", issuer) if isinstance(lookup, dict) else None
        kid = field(lookup, "kid")
        now = field(lookup, "at", kind=(int, float))
        if isinstance(now, bool):
            raise BadRequest("at is not a number")
        fetched = []
        error = lookup_key(state, web, iss, kid, now, fetched)
        results.append({"fetched": fetched, "found": error is None, "error": error})
    if results[-1]["error"] is not None:
        raise OpError(results[-1]["error"], _dump(results))
    return {"lookups": results}


# The ops of this module; attest_impl.py merges every module's table.
OPS = {
    "json.parse": op_json_parse,
    "jcs.canonicalize": op_jcs_canonicalize,
    "base64url.decode": op_b64url_decode,
    "base64url.encode": op_b64url_encode,
    "sha256.digest": op_sha256,
    "signature.verify": op_signature_verify,
    "signature.sign": op_signature_sign,
    "jwk.thumbprint": op_jwk_thumbprint,
    "jwks.parse": op_jwks_parse,
    "keys.discovery": op_keys_discovery,
}
