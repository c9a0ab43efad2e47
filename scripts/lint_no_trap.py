#!/usr/bin/env python3
"""Keeps `try!`, `as!` and force unwraps off the code that untrusted input reaches.

Scans the Swift sources of the protocol modules, with comments and string literals
removed (the code inside a string interpolation is kept), for `try!`, `as!` and
postfix `!` (a `!` right after an identifier, `)` or `]` that does not start `!=`).
A line may keep one only with a reviewed reason why it cannot trap, as a trailing
comment `// trap-free: <reason>`. Prints file:line of each other one; exits 1 if any.

Usage: scripts/lint_no_trap.py [DIRECTORY ...]   (default: the protocol modules)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = ["AttestCore", "AttestIdentity", "AttestEvidence", "AttestMCP", "AttestDiscovery", "AttestOps", "AttestPortal",
           "AttestPortalFraming", "AttestWitness"]
ALLOW = re.compile(r"//\s*trap-free:\s*\S")


def code_only(source):
    """The source with comments and string literal contents blanked (newlines kept, so
    line numbers stay), and string interpolations kept as code."""
    out = []
    i, n = 0, len(source)
    # Each entry is an open context: ("code", paren depth) inside an interpolation, or
    # ("string", closing delimiter, raw hashes).
    stack = [("code", 0)]
    while i < n:
        top = stack[-1]
        c = source[i]
        if top[0] == "code":
            if source.startswith("//", i):
                j = source.find("\n", i)
                j = n if j < 0 else j
                out.append(" " * (j - i))
                i = j
            elif source.startswith("/*", i):
                depth, j = 0, i
                while j < n:
                    if source.startswith("/*", j):
                        depth += 1
                        j += 2
                    elif source.startswith("*/", j):
                        depth -= 1
                        j += 2
                        if depth == 0:
                            break
                    else:
                        j += 1
                out.append(re.sub(r"[^\n]", " ", source[i:j]))
                i = j
            elif c == "#" or c == '"':
                m = re.match(r'(#*)("""|")', source[i:])
                if not m:
                    out.append(c)
                    i += 1
                    continue
                hashes, quote = m.group(1), m.group(2)
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
                stack.append(("string", quote + hashes, hashes))
            elif c == "(":
                stack[-1] = ("code", top[1] + 1)
                out.append(c)
                i += 1
            elif c == ")":
                if len(stack) > 1 and top[1] == 0:
                    stack.pop()  # end of an interpolation
                    out.append(" ")
                else:
                    stack[-1] = ("code", top[1] - 1)
                    out.append(c)
                i += 1
            else:
                out.append(c)
                i += 1
        else:
            _, closing, hashes = top
            escape = "\\" + hashes
            if source.startswith(closing, i):
                out.append(" " * len(closing))
                i += len(closing)
                stack.pop()
            elif source.startswith(escape + "(", i):
                out.append(" " * (len(escape) + 1))
                i += len(escape) + 1
                stack.append(("code", 0))
            elif source.startswith(escape, i):
                out.append(" " * (len(escape) + 1))
                i += len(escape) + 1
            else:
                out.append("\n" if c == "\n" else " ")
                i += 1
    return "".join(out)


TRAPS = [
    (re.compile(r"\btry!"), "try!"),
    (re.compile(r"\bas!"), "as!"),
    (re.compile(r"(?<=[\w)\]])!(?!=)"), "force unwrap"),
]


def violations(path):
    source = path.read_text()
    lines = source.split("\n")
    code = code_only(source).split("\n")
    found = []
    for number, (line, original) in enumerate(zip(code, lines), start=1):
        if ALLOW.search(original):
            continue
        for pattern, what in TRAPS:
            if pattern.search(re.sub(r"\b(try|as)!", r"\1 ", line) if what == "force unwrap" else line):
                found.append((number, what))
    return found


def main(argv):
    directories = [pathlib.Path(a) for a in argv] or [ROOT / "Sources" / m for m in MODULES]
    count = 0
    for directory in directories:
        for path in sorted(directory.rglob("*.swift")):
            for number, what in violations(path):
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}: {what} "
                      "(rewrite, or end the line with // trap-free: <why it cannot trap>)")
                count += 1
    if count:
        print(f"{count} possible traps on paths untrusted input may reach")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
