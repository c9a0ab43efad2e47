#!/usr/bin/env python3
"""Moves large vector inputs out of the Markdown into data files (conventions.md §Data files).

A `json vector` block keeps its metadata and expectation; an input (or context) member
that is large is written to spec/data/<document>/<vector-id>/<member>.json (a JSON
value) or .txt (a string), and the block holds a reference in its place:

    {"$file": "data/<document>/<vector-id>/<name>", "as": "json" | "text" | "hex", "sha256": "<hex>"}

A bundle.verify vector's files are always data files, the exact files of the bundle
layout (bundle.md), given to the op as hex: data/<document>/<id>/artifacts.jsonl and
data/<document>/<id>/logs/<i>/{receipts,checkpoints,payloads}.jsonl. A block that still
gives them as lists of JSON values (the form before exact bytes) is converted: each value
becomes one line, members in JCS order, no whitespace, numbers as written.

Rerunnable: a block whose large members are already references is left as it is, and
data files of a processed document that no block refers to any longer are removed. A
data file whose digest no longer matches its reference is an error, unless --repin is
given, which rewrites the reference's digest (for a data file edited on purpose).

The vector authoring scripts call `externalize` through vectorlib.render, so the blocks
they write are already in this form; run this script after editing blocks by hand, or
after merging blocks written inline.

Usage: python3 scripts/externalize_vectors.py [--max-bytes N] [--max-lines N] [--repin] [--check] [DOCUMENT.md ...]
"""
import argparse
import copy
import hashlib
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"
DATA = "data"
# A member is large when its form in the block is over either limit.
MAX_BYTES = 4096
MAX_LINES = 60
BUNDLE_OP = "bundle.verify"
BLOCK = re.compile(r"```json vector\n(.*?)\n```", re.S)
SAFE = re.compile(r"[^A-Za-z0-9._-]")


# ---------------------------------------------------------------- JSON with numbers as written

class Num:
    """A JSON number kept as its text, so that nothing is rounded on the way through."""
    __slots__ = ("text",)

    def __init__(self, text): self.text = text
    def __eq__(self, other): return isinstance(other, Num) and other.text == self.text
    def __repr__(self): return self.text


def loads(text):
    """Parses JSON, keeping every number's text and refusing duplicate members."""
    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise ValueError(f"duplicate member {k!r}")
            d[k] = v
        return d
    return json.loads(text, parse_int=Num, parse_float=Num, object_pairs_hook=pairs)


def _number(v):
    if isinstance(v, Num):
        return v.text
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    return float.__repr__(v) if v == v and v not in (float("inf"), float("-inf")) else _reject(v)


def _reject(v):
    raise ValueError(f"not a JSON value: {v!r}")


def is_reference(v):
    return isinstance(v, dict) and "$file" in v


def dumps_block(v, level=0):
    """As json.dumps(v, indent=2, ensure_ascii=True), with numbers as written and each
    data-file reference on one line."""
    pad = "  " * (level + 1)
    if isinstance(v, dict):
        if not v:
            return "{}"
        if is_reference(v):
            return "{" + ", ".join(f"{json.dumps(k)}: {dumps_block(x)}" for k, x in v.items()) + "}"
        items = [f"{pad}{json.dumps(k, ensure_ascii=True)}: {dumps_block(x, level + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(pad + dumps_block(x, level + 1) for x in v) + "\n" + "  " * level + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=True)
    return _number(v)


def _utf16_key(s):
    return s.encode("utf-16-be")


def dumps_line(v):
    """One line of a bundle file: members in JCS order (RFC 8785: by UTF-16 code units),
    no whitespace, strings escaped as JCS escapes them, numbers as written."""
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dumps_line(v[k])
                              for k in sorted(v, key=_utf16_key)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dumps_line(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return _number(v)


def jsonl(values):
    """The bytes of a JSON lines file: one line per value, each ended by a line feed."""
    return b"".join(dumps_line(x).encode("utf-8") + b"\n" for x in values)


# ---------------------------------------------------------------- data files

def sha256(b): return hashlib.sha256(b).hexdigest()


class Store:
    """The data files written in one run, and the digests it found wrong."""

    def __init__(self, spec=SPEC, repin=False, dry=False):
        self.spec = spec
        self.repin = repin
        self.dry = dry
        self.written = 0
        self.errors = []

    def put(self, path, data):
        target = self.spec / path
        if target.is_file() and target.read_bytes() == data:
            return
        self.written += 1
        if self.dry:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def reference(self, path, form, data):
        self.put(path, data)
        return {"$file": path, "as": form, "sha256": sha256(data)}


def _name(member):
    return SAFE.sub("_", member) or "_"


def large(value, max_bytes, max_lines):
    text = dumps_block(value, 2)
    return len(text.encode()) > max_bytes or text.count("\n") + 1 > max_lines


def _bundle_file(value, path, store):
    """A bundle file given as a list of JSON values, as bytes, or as hex: a reference."""
    if is_reference(value):
        return value
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, list):
        data = jsonl(value)
    elif isinstance(value, str):
        data = bytes.fromhex(value)
    else:
        raise ValueError(f"{path}: a bundle file is a list of JSON values, bytes or hex")
    return store.reference(path, "hex", data)


def externalize(vector, document, store, max_bytes=MAX_BYTES, max_lines=MAX_LINES):
    """The vector with its large members, and a bundle vector's files, as data-file references."""
    v = dict(vector)
    base = f"{DATA}/{document}/{v['id']}"
    if v.get("op") == BUNDLE_OP and isinstance(v.get("input"), dict):
        inp = dict(v["input"])
        if "artifacts" in inp:
            inp["artifacts"] = _bundle_file(inp["artifacts"], f"{base}/artifacts.jsonl", store)
        logs = []
        for i, log in enumerate(inp.get("logs", [])):
            log = dict(log)
            for member in ("receipts", "checkpoints", "payloads"):
                if member in log:
                    log[member] = _bundle_file(log[member], f"{base}/logs/{i}/{member}.jsonl", store)
            logs.append(log)
        if "logs" in inp:
            inp["logs"] = logs
        v["input"] = inp
    for section in ("context", "input"):
        if not isinstance(v.get(section), dict):
            continue
        out = {}
        for member, value in v[section].items():
            if is_reference(value) or not large(value, max_bytes, max_lines):
                out[member] = value
                continue
            stem = f"{base}/{'' if section == 'input' else 'context.'}{_name(member)}"
            text = None
            if isinstance(value, str):
                try:
                    text = value.encode("utf-8")
                except UnicodeEncodeError:
                    text = None
            if text is not None:
                out[member] = store.reference(stem + ".txt", "text", text)
            else:
                out[member] = store.reference(stem + ".json", "json", (dumps_block(value) + "\n").encode("utf-8"))
        v[section] = out
    return v


def references(value):
    """Every data-file reference in a value."""
    if is_reference(value):
        yield value
    elif isinstance(value, dict):
        for x in value.values():
            yield from references(x)
    elif isinstance(value, list):
        for x in value:
            yield from references(x)


def check_references(vector, store, where):
    """Compares each reference's digest with its file; with --repin, corrects it."""
    for ref in references({k: vector.get(k) for k in ("context", "input")}):
        target = store.spec / ref["$file"]
        if not target.is_file():
            store.errors.append(f"{where}: {ref['$file']} is missing")
            continue
        actual = sha256(target.read_bytes())
        if actual != ref.get("sha256"):
            if store.repin:
                ref["sha256"] = actual
            else:
                store.errors.append(f"{where}: {ref['$file']} has SHA-256 {actual}, the block says {ref.get('sha256')}")


def prune(document, text, store):
    """Removes the data files of `document` that no block of `text` refers to."""
    keep = set()
    for m in BLOCK.finditer(text):
        try:
            keep.update(r["$file"] for r in references(loads(m.group(1))))
        except ValueError:
            pass
    top = store.spec / DATA / document
    removed = 0
    if not top.is_dir():
        return 0
    for f in sorted(top.rglob("*"), reverse=True):
        rel = f.relative_to(store.spec).as_posix()
        if f.is_file() and rel not in keep:
            removed += 1
            if not store.dry:
                f.unlink()
        elif f.is_dir() and not store.dry and not any(f.iterdir()):
            f.rmdir()
    if not store.dry and top.is_dir() and not any(top.iterdir()):
        top.rmdir()
    return removed


def process(path, store, max_bytes=MAX_BYTES, max_lines=MAX_LINES):
    """Externalizes the blocks of one document; returns (blocks rewritten, files removed)."""
    document = path.stem
    text = path.read_text()
    changed = 0

    def repl(m):
        nonlocal changed
        v = loads(m.group(1))
        line = text.count("\n", 0, m.start()) + 1
        new = externalize(copy.deepcopy(v), document, store, max_bytes, max_lines)
        check_references(new, store, f"{path.name}:{line} {v.get('id')}")
        if new == v:
            return m.group(0)
        changed += 1
        return "```json vector\n" + dumps_block(new) + "\n```"

    new_text = BLOCK.sub(repl, text)
    if new_text != text and not store.dry:
        path.write_text(new_text)
    return changed, prune(document, new_text, store)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("documents", nargs="*", help="spec documents (default: every spec/*.md)")
    ap.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="a member larger than this in its block is moved")
    ap.add_argument("--max-lines", type=int, default=MAX_LINES, help="a member spanning more lines than this is moved")
    ap.add_argument("--repin", action="store_true", help="rewrite references whose data file changed to its new digest")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    args = ap.parse_args(argv)
    paths = [pathlib.Path(d) if "/" in d else SPEC / d for d in args.documents] or sorted(SPEC.glob("*.md"))
    store = Store(repin=args.repin, dry=args.check)
    total_blocks = total_removed = 0
    for path in paths:
        blocks, removed = process(path.resolve(), store, args.max_bytes, args.max_lines)
        total_blocks += blocks
        total_removed += removed
        if blocks or removed:
            print(f"{path.name}: {blocks} blocks rewritten, {removed} stale data files removed")
    for e in store.errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"{total_blocks} blocks rewritten, {store.written} data files written, {total_removed} removed")
    if store.errors:
        return 2
    if args.check and (total_blocks or store.written or total_removed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
