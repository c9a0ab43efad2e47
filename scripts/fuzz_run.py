#!/usr/bin/env python3
"""Runs one libFuzzer target of Fuzz/ for a time budget and prints one summary line.

The target reads the committed seeds (Fuzz/corpus/<target>) and grows a scratch corpus
(.build-fuzz/corpus/<target>); crashes go to .build-fuzz/crashes/<target>/. SECONDS is
CPU time (user + system of the fuzzer process), which is what the summary reports.

Usage: scripts/fuzz_run.py TARGET SECONDS [--scratch .build-fuzz] [-- extra libFuzzer flags]
"""
import argparse
import os
import pathlib
import re
import resource
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("seconds", type=int)
    parser.add_argument("--scratch", default=".build-fuzz")
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()

    scratch = ROOT / args.scratch
    binary = scratch / "debug" / f"fuzz-{args.target}"
    if not binary.exists():
        sys.exit(f"{binary} is not built (make fuzz-one FUZZ_TARGET={args.target})")
    corpus = scratch / "corpus" / args.target
    crashes = scratch / "crashes" / args.target
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    seeds = ROOT / "Fuzz" / "corpus" / args.target
    dictionary = ROOT / "Fuzz" / "dict" / f"{args.target}.dict"
    log = scratch / f"fuzz-{args.target}.log"

    def crash_files():
        return {p.name for p in crashes.iterdir() if re.match(r"(crash|timeout|oom|leak)-", p.name)}

    before_crashes = crash_files()
    before_corpus = len(list(corpus.iterdir()))

    def command(seconds):
        flags = [f"-max_total_time={seconds}", "-timeout=10", "-print_final_stats=1", f"-artifact_prefix={crashes}/"]
        if dictionary.exists():
            flags.append(f"-dict={dictionary}")
        return [str(binary)] + flags + args.extra + [str(corpus), str(seeds)]
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    # -max_total_time counts wall time; on a shared machine the process gets less CPU
    # than that, so the target is run again until it has had its CPU seconds.
    cpu, executions, status, runs = 0.0, 0, 0, 0
    with open(log, "w") as out:
        while cpu < args.seconds - 1 and status == 0 and not crash_files() - before_crashes and runs < 20:
            runs += 1
            usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out.seek(0, os.SEEK_END)
            start = out.tell()
            status = subprocess.run(["nice", "-n", "10"] + command(max(1, round(args.seconds - cpu))),
                                    stdout=out, stderr=subprocess.STDOUT, env=env).returncode
            usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu += (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
            out.flush()
            with open(log, errors="replace") as read:
                read.seek(start)
                text = read.read()
            counts = re.findall(r"stat::number_of_executed_units: (\d+)", text) or re.findall(r"^#(\d+)", text, re.M)
            executions += int(counts[-1]) if counts else 0
    new_crashes = sorted(crash_files() - before_crashes)
    size = len(list(corpus.iterdir()))
    print(f"fuzz-{args.target}: {executions} executions, {cpu:.0f} CPU s, corpus {size} (+{size - before_corpus}), "
          f"{len(new_crashes)} crashes{''.join(f' {crashes / c}' for c in new_crashes)}"
          f"{'' if status == 0 or new_crashes else f' (exit {status}, see {log})'}")
    return 1 if new_crashes or status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
