"""scripts/lint_no_trap.py flags exactly the traps in code: not in comments or strings,
not `!=` or prefix `!`, and not a line with a reviewed trap-free reason."""
import importlib.util

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("lint_no_trap", ROOT / "scripts" / "lint_no_trap.py")
lint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint)


def flagged(tmp_path, source):
    path = tmp_path / "Sample.swift"
    path.write_text(source)
    return [what for _, what in lint.violations(path)]


@pytest.mark.parametrize("source, expected", [
    ("let x = try! f()\n", ["try!"]),
    ("let x = y as! Int\n", ["as!"]),
    ("let x = y!.z\n", ["force unwrap"]),
    ("let x = f()!\n", ["force unwrap"]),
    ("let x = a[0]!\n", ["force unwrap"]),
    ('let s = "\\(y!)"\n', ["force unwrap"]),
    ("if a != b, !c { }\n", []),
    ("let x = !y\n", []),
    ('let s = "y! try! as!"\n', []),
    ('let s = #"y!" \\(z)"#\n', []),
    ('let s = """\n  y!\n  """\n', []),
    ("// y! try!\nlet a = 1 /* z! */\n", []),
    ("/* outer /* inner */ y! */ let a = 1\n", []),
    ("let x = y!  // trap-free: y is set two lines above\n", []),
    ("let x = y!  // trap-free:\n", ["force unwrap"]),
    ("let x = y!  // it cannot be nil\n", ["force unwrap"]),
])
def test_flags(tmp_path, source, expected):
    assert flagged(tmp_path, source) == expected
