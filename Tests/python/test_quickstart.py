"""The README's portal walkthrough (examples/portal/quickstart.sh) runs from start to end:
an allowed call answered with its ALLOW and RESULT receipts, a denied call with its DENY,
and the bundle exported from the portal's store verifying PASS, twice on one store."""
import os, pathlib, subprocess

from conftest import ROOT
from test_mcp_peers import attest_binary


def test_quickstart(tmp_path):
    script = ROOT / "examples" / "portal" / "quickstart.sh"
    env = dict(os.environ, ATTEST=attest_binary())
    for run in (1, 2):
        out = subprocess.run([str(script), str(tmp_path / "work")], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        lines = out.stdout.splitlines()
        assert any(l.startswith("call 2: result: echo hello; receipts") and "ALLOW" in l and "RESULT" in l for l in lines), out.stdout
        assert any(l.startswith("call 3: denied: PTL_TOOL_NOT_ALLOWED; receipts") and "DENY" in l for l in lines), out.stdout
        assert any(l.startswith(f"PASS: {3 * run} receipts") for l in lines), out.stdout
