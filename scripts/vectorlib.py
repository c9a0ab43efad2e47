"""Shared by the vector authoring scripts: collecting valid and invalid vectors by
section, writing each section into the spec between `<!-- begin vectors: NAME -->` and
`<!-- end vectors: NAME -->` (large inputs and bundle files as data files under
spec/data/, through externalize_vectors.py), base64url, and an Ed25519 key from a seed
(PyNaCl). Only the block format and these primitives live here; every expected value is
computed by the script that authors it."""
import base64
import hashlib
import json
import pathlib
import re
import sys

import externalize_vectors

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEMBER_ORDER = ["id", "op", "description", "covers", "flags", "context", "input", "expected", "base", "mutation", "source"]


def add(sections, section, **v):
    """Appends a vector to `section`, with its members in the order of conventions.md."""
    sections.setdefault(section, []).append({k: v[k] for k in MEMBER_ORDER if k in v})


def valid(sections, section, id, op, description, covers, input, output, context=None, **extra):
    if context is not None:
        extra["context"] = context
    add(sections, section, id=id, op=op, description=description, covers=covers, input=input,
        expected={"result": "valid", "output": output}, **extra)


def invalid(sections, section, id, op, description, covers, input, error, base, mutation, context=None, **extra):
    """A negative vector; it covers ERR-001, since it asserts exactly one registry code."""
    if context is not None:
        extra["context"] = context
    add(sections, section, id=id, op=op, description=description, covers=covers + ["ERR-001"], input=input,
        expected={"result": "invalid", "error": error}, base=base, mutation=mutation, **extra)


def as_doubles(v):
    """A value as a JSON parser reads it: JCS (RFC 8785) serializes every number as an IEEE
    double, and rfc8785 refuses Python ints beyond 2^53, so those become floats first."""
    if isinstance(v, dict):
        return {k: as_doubles(x) for k, x in v.items()}
    if isinstance(v, list):
        return [as_doubles(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
        return float(v)
    return v


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Ed:
    """An Ed25519 key from a 32-byte seed, with its public JWK and RFC 7638 kid."""

    def __init__(self, seed: bytes):
        import nacl.bindings
        import rfc8785
        self._sign = nacl.bindings.crypto_sign
        self.seed = seed
        self.pk, self.sk = nacl.bindings.crypto_sign_seed_keypair(seed)
        self.alg = "Ed25519"
        self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(self.pk)}
        self.kid = b64u(hashlib.sha256(rfc8785.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64u(self.pk)})).digest())

    def sign(self, msg: bytes) -> bytes:
        return self._sign(msg, self.sk)[:64]


def render(vectors, document, store):
    """The vector blocks of a section. Large inputs, and a bundle vector's files, go to data
    files under spec/data/<document>/<id>/ with a reference in the block (externalize_vectors.py,
    conventions.md §Data files). Every non-ASCII character of a block is written as a \\u
    escape, so that the vectors survive an editor or tool that normalizes the Markdown (NFC
    turns U+212A KELVIN SIGN into K); a data file that such a tool changed fails its digest."""
    return "\n".join("```json vector\n" + externalize_vectors.dumps_block(externalize_vectors.externalize(v, document, store))
                     + "\n```\n" for v in vectors)


def write(sections, documents=None, strict=True):
    """Rewrites the marked regions of spec/*.md (or of `documents`) that `sections` names,
    writes their data files, and removes the data files of those documents that no block
    refers to any more.

    With `strict`, a marked region with no vectors is an error; either way, a section
    with no region is."""
    paths = [ROOT / "spec" / d for d in documents] if documents else sorted((ROOT / "spec").glob("*.md"))
    store = externalize_vectors.Store()
    changed = 0
    for path in paths:
        text = path.read_text()

        def repl(m):
            name = m.group(1)
            if name not in sections:
                if strict:
                    sys.exit(f"{path.name}: no vectors named {name}")
                return m.group(0)
            return f"<!-- begin vectors: {name} -->\n\n{render(sections.pop(name), path.stem, store)}\n<!-- end vectors: {name} -->"

        new = re.sub(r"<!-- begin vectors: ([a-z0-9-]+) -->.*?<!-- end vectors: \1 -->", repl, text, flags=re.S)
        if new != text:
            path.write_text(new)
            changed += 1
        externalize_vectors.prune(path.stem, new, store)
    if sections:
        sys.exit(f"sections with no place in spec/: {sorted(sections)}")
    print(f"rewrote vector sections in {changed} documents; {store.written} data files written")
