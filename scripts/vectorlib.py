"""Shared by the vector authoring scripts: collecting vectors by section, and writing
each section into the spec between `<!-- begin vectors: NAME -->` and
`<!-- end vectors: NAME -->`. Only the block format lives here; every expected value is
computed by the script that authors it."""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEMBER_ORDER = ["id", "op", "description", "covers", "flags", "context", "input", "expected", "base", "mutation", "source"]


def add(sections, section, **v):
    """Appends a vector to `section`, with its members in the order of conventions.md."""
    sections.setdefault(section, []).append({k: v[k] for k in MEMBER_ORDER if k in v})


def render(vectors):
    return "\n".join("```json vector\n" + json.dumps(v, indent=2, ensure_ascii=False) + "\n```\n" for v in vectors)


def write(sections, documents=None, strict=True):
    """Rewrites the marked regions of spec/*.md (or of `documents`) that `sections` names.

    With `strict`, a marked region with no vectors is an error; either way, a section
    with no region is."""
    paths = [ROOT / "spec" / d for d in documents] if documents else sorted((ROOT / "spec").glob("*.md"))
    changed = 0
    for path in paths:
        text = path.read_text()

        def repl(m):
            name = m.group(1)
            if name not in sections:
                if strict:
                    sys.exit(f"{path.name}: no vectors named {name}")
                return m.group(0)
            return f"<!-- begin vectors: {name} -->\n\n{render(sections.pop(name))}\n<!-- end vectors: {name} -->"

        new = re.sub(r"<!-- begin vectors: ([a-z0-9-]+) -->.*?<!-- end vectors: \1 -->", repl, text, flags=re.S)
        if new != text:
            path.write_text(new)
            changed += 1
    if sections:
        sys.exit(f"sections with no place in spec/: {sorted(sections)}")
    print(f"rewrote vector sections in {changed} documents")
