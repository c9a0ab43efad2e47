"""The instruction-count gate (scripts/bench_check.py, `make bench-check`) can fail: with
one path's baseline lowered by 20%, it exits 1 and names that path, and only that path.
Needs the release build (`make release`) and valgrind, as `make test` has them."""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ATTEST = ROOT / ".build" / "release" / "attest"
BASELINE = ROOT / "Benchmarks" / "instruction-counts.json"


@pytest.mark.skipif(not ATTEST.exists() or shutil.which("valgrind") is None,
                    reason="needs .build/release/attest (make release) and valgrind")
def test_gate_fails_on_a_lowered_baseline_and_names_the_path(tmp_path):
    baseline = json.loads(BASELINE.read_text())
    lowered = dict(baseline, paths=dict(baseline["paths"]))
    lowered["paths"]["merkle"] = int(baseline["paths"]["merkle"] * 0.8)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(lowered))
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_check.py"), "--attest", str(ATTEST),
                          "--baseline", str(path), "--paths", "merkle,jcs"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "bench-check: FAILED: merkle\n" in run.stderr, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines() if line.split()}
    assert "REGRESSION" in lines["merkle"], run.stdout
    assert "REGRESSION" not in lines["jcs"], run.stdout
