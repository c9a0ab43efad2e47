#!/usr/bin/env python3
"""Instruction-count regression gate (Benchmarks/README.md §Regression gate).

Counts the instructions of each hot path under `valgrind --tool=callgrind` and compares
them with the committed baselines in Benchmarks/instruction-counts.json. A count more than
10% above its baseline fails the gate; more than 10% below is reported (the baseline can
be tightened) and does not fail. Counts, not times: the result does not depend on the
machine's load.

Each path is run by `attest bench count --path P --n N` (a release build) twice, with N1
and N2 operations, and the count per operation is (I(N2) - I(N1)) / (N2 - N1), which
cancels the start-up and the fixed setup. For the single-threaded paths callgrind
collects only inside `benchCountMeasured` (--collect-atstart=no --toggle-collect), so a
setup that grows with N (fresh proofs) is not counted either. `bundle-verify` runs on
worker threads, which that toggle would not see: it is counted over the whole process,
on two bundles of N1 and N2 receipts written beforehand (natively, not counted) and kept
in the cache directory, so that repeated runs verify the same bytes.

Valgrind does not emulate the SHA instructions, so under callgrind BoringSSL's SHA-256
takes its generic path: the gate measures our code and the portable backends, not the
speed of the hash on real hardware.

Usage:
  scripts/bench_check.py [--attest PATH] [--baseline FILE] [--paths a,b] [--update] [--jobs N]
Exit status: 0 within the gate (or --update), 1 when a path regressed (each named), 2 on
a usage or run error.
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = ROOT / "Benchmarks" / "instruction-counts.json"
CACHE = ROOT / ".build" / "bench-count"
TOLERANCE = 0.10

# path -> (N1, N2): small fixed workloads (each path's two runs take a few seconds
# under callgrind).
PATHS = {
    "token-verify": (10, 60),
    "request-verify": (10, 60),
    "receipt-append": (20, 120),
    "bundle-verify": (50, 250),
    "jcs": (50, 250),
    "merkle": (500, 2500),
}
WHOLE_PROCESS = {"bundle-verify"}


def env():
    e = dict(os.environ)
    e["SWIFT_DETERMINISTIC_HASHING"] = "1"
    return e


def callgrind(attest, path, n, workdir):
    """Instructions collected by callgrind for one run, and the run's `units-per-op`."""
    out = pathlib.Path(workdir) / f"callgrind.{path}.{n}.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if path in WHOLE_PROCESS:
        bundle = CACHE / f"bundle-{n}"
        args = ["--bundle", str(bundle)]
    else:
        cmd += ["--collect-atstart=no", "--toggle-collect=*benchCountMeasured*"]
        args = []
    cmd += [str(attest), "bench", "count", "--path", path, "--n", str(n)] + args
    run = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if run.returncode != 0:
        raise RuntimeError(f"{path} n={n}: exit {run.returncode}\n{run.stdout}{run.stderr[-2000:]}")
    m = re.search(r"units-per-op (\S+)", run.stdout)
    if not m:
        raise RuntimeError(f"{path} n={n}: no units-per-op line in:\n{run.stdout}")
    total = None
    for line in out.read_text().splitlines():
        if line.startswith("totals:") or (total is None and line.startswith("summary:")):
            total = int(line.split()[1])
    if not total:
        raise RuntimeError(f"{path} n={n}: callgrind collected nothing (is benchCountMeasured still a function?)")
    return total, float(m.group(1))


def stripped(attest):
    """A copy of the binary without its DWARF sections, which valgrind 3.19 cannot read
    (Swift 6's DWARF 5); the symbol table stays, so callgrind still names functions."""
    CACHE.mkdir(parents=True, exist_ok=True)
    copy = CACHE / "attest"
    source = pathlib.Path(attest)
    if not copy.exists() or copy.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["objcopy", "--strip-debug", str(source), str(copy) + ".tmp"], check=True)
        os.replace(str(copy) + ".tmp", copy)
    return copy


def prepare_bundles(attest, paths):
    for path in paths:
        if path not in WHOLE_PROCESS:
            continue
        for n in PATHS[path]:
            bundle = CACHE / f"bundle-{n}"
            manifest = bundle / "manifest.json"
            # A bundle written by an earlier format (bundle.md §Layout) is written anew.
            if manifest.exists() and '"mcp-attest/bundle/v2"' in manifest.read_text():
                continue
            shutil.rmtree(bundle, ignore_errors=True)
            CACHE.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(attest), "bench", "count", "--path", path, "--n", str(n), "--write-bundle", str(bundle)],
                           check=True, env=env(), capture_output=True)


def measure(attest, path, workdir):
    n1, n2 = PATHS[path]
    i1, units = callgrind(attest, path, n1, workdir)
    i2, _ = callgrind(attest, path, n2, workdir)
    per_op = (i2 - i1) / (n2 - n1) / units
    return {"n1": n1, "n2": n2, "instructions_n1": i1, "instructions_n2": i2, "per_op": round(per_op)}


def toolchain():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            return "unknown"
    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"swift": first_line(["swift", "--version"]), "valgrind": first_line(["valgrind", "--version"]),
            "machine": f"{platform.machine()}, {cpu}", "os": platform.platform()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attest", default=str(ROOT / ".build" / "release" / "attest"))
    ap.add_argument("--baseline", default=str(DEFAULT_BASELINE))
    ap.add_argument("--paths", help="comma-separated subset of: " + ", ".join(PATHS))
    ap.add_argument("--update", action="store_true", help="rewrite the baseline file with the counts measured now")
    ap.add_argument("--jobs", type=int, default=2, help="paths counted at once (default 2)")
    ap.add_argument("--json", help="also write the measured counts to this file")
    a = ap.parse_args()

    paths = a.paths.split(",") if a.paths else list(PATHS)
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        print(f"bench-check: unknown path(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    if not os.access(a.attest, os.X_OK):
        print(f"bench-check: {a.attest} is not built (make release)", file=sys.stderr)
        return 2
    baseline_file = pathlib.Path(a.baseline)
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else {}
    if not a.update and not baseline.get("paths"):
        print(f"bench-check: no baseline in {baseline_file} (make bench-check-update)", file=sys.stderr)
        return 2

    prepare_bundles(a.attest, paths)
    attest = stripped(a.attest)
    results = {}
    with tempfile.TemporaryDirectory() as workdir, concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as pool:
        futures = {p: pool.submit(measure, attest, p, workdir) for p in paths}
        try:
            for p in paths:
                results[p] = futures[p].result()
        except RuntimeError as e:
            print(f"bench-check: {e}", file=sys.stderr)
            return 2

    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(results, indent=2) + "\n")

    if a.update:
        kept = {p: v for p, v in baseline.get("paths", {}).items() if p not in results}
        kept.update({p: results[p]["per_op"] for p in results})
        doc = {
            "about": "Instructions per operation of each hot path under callgrind (scripts/bench_check.py); "
                     "per KB for jcs, per receipt for bundle-verify. Rewritten by `make bench-check-update`.",
            "tolerance": TOLERANCE,
            "toolchain": toolchain(),
            "paths": {p: kept[p] for p in PATHS if p in kept},
        }
        baseline_file.write_text(json.dumps(doc, indent=2) + "\n")
        for p in paths:
            print(f"bench-check: {p}: {results[p]['per_op']:,} instructions per op (baseline written)")
        return 0

    failed = []
    print(f"{'path':<16} {'baseline':>12} {'measured':>12} {'change':>8}")
    for p in paths:
        base = baseline["paths"].get(p)
        got = results[p]["per_op"]
        if base is None:
            print(f"{p:<16} {'-':>12} {got:>12,} {'':>8}  no baseline: add it with make bench-check-update")
            failed.append(p)
            continue
        change = got / base - 1
        note = ""
        if change > TOLERANCE:
            note = f"  REGRESSION: more than {TOLERANCE:.0%} above the baseline"
            failed.append(p)
        elif change < -TOLERANCE:
            note = f"  more than {TOLERANCE:.0%} below the baseline: tighten it (make bench-check-update)"
        print(f"{p:<16} {base:>12,} {got:>12,} {change:>+8.1%}{note}")
    if failed:
        print(f"bench-check: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("bench-check: every path within the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
