"""The Python example implementation's own self-test against the third-party vectors."""
import subprocess
import sys

from conftest import ROOT


def test_python_adapter_selftest():
    adapter = ROOT / "conformance" / "examples" / "python"
    run = subprocess.run([sys.executable, "selftest.py"], cwd=adapter, capture_output=True, text=True, timeout=600)
    last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " 0 failed" in last, last
