"""Every subcommand of `attest`, as `attest --help` lists it (so that a new one is covered
without editing this file), driven with invalid values of each of its options and
arguments: negative, zero, huge, non-numeric, empty, a missing file, a directory where a
file is expected, a file of garbage. Nothing may trap (a signal, exit 132/134, "Fatal
error", a backtrace) or dump a framework error; every exit code is one of the scheme
`attest --help` documents. Then the cases that used to trap, and the exit classes."""
import concurrent.futures
import os
import re
import signal
import subprocess

import pytest

from test_mcp_peers import attest_binary

SEED = "42" * 32
# The exit codes `attest --help` documents.
DOCUMENTED = {0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 64, 74}
TRAP_MARKS = ("Fatal error", "Stack dump", "Current stack trace", "backtrace", "Illegal instruction", "Error Domain=",
              "NSCocoaErrorDomain", "Segmentation fault")


def run(*args, cwd, stdin=subprocess.DEVNULL, timeout=120, env=None):
    return subprocess.run([attest_binary(), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          stdin=stdin, env=env)


def sections(help_text):
    """The help's sections by title: {"OPTIONS": [lines], "SUBCOMMANDS": [...], "ARGUMENTS": [...], "USAGE": [...]}."""
    out, current = {}, None
    for line in help_text.splitlines():
        m = re.match(r"^([A-Z][A-Z ]+):(.*)$", line)
        if m:
            current = m.group(1)
            out[current] = [m.group(2)] if m.group(2).strip() else []
        elif current is not None:
            out[current].append(line)
    return out


def help_of(path, cwd):
    r = run(*path, "--help", cwd=cwd)
    assert r.returncode == 0, (path, r.stderr)
    return r.stdout


def commands(cwd, path=()):
    """Every leaf command reachable from `path`: (path, help text)."""
    text = help_of(path, cwd)
    subs = [m.group(1) for line in sections(text).get("SUBCOMMANDS", [])
            if (m := re.match(r"^  ([a-z][a-z0-9-]*)\b", line))]
    subs = [s for s in subs if s != "help"]
    if not subs:
        return [(path, text)]
    found = []
    for s in subs:
        found += commands(cwd, (*path, s))
    return found


HIDDEN = [("conformance-upstream",), ("bench", "portal-upstream")]


def options(help_text):
    """(name, takes_value, required) of each option, and the positional argument names."""
    parts = sections(help_text)
    usage = " ".join(parts.get("USAGE", []))
    opts = []
    for line in parts.get("OPTIONS", []):
        m = re.match(r"^\s+(?:-\w, )?(--[a-z0-9-]+)(?: <([a-z0-9-]+)>)?", line)
        if not m or m.group(1) in ("--help", "--version"):
            continue
        name, value = m.group(1), m.group(2)
        # Required: named in the usage line outside brackets.
        required = bool(value) and re.search(r"(?<!\[)" + re.escape(name) + r" <", usage) is not None \
            and not re.search(r"\[" + re.escape(name) + r"[ =]<[^\]]*\]", usage)
        opts.append((name, value is not None, required))
    positionals = []
    for line in parts.get("ARGUMENTS", []):
        m = re.match(r"^\s+<([a-z0-9-]+)>", line)
        if m:
            positionals.append(m.group(1))
    return opts, positionals, usage


# Cheap values for options not under test, so that a bad value that is in fact valid
# still runs quickly (benchmarks, servers) instead of doing real work.
CHEAP = {"--seconds": "0.001", "--rounds": "1", "--count": "1", "--python": "", "--receipts": "3", "--leaves": "4",
         "--proofs": "1", "--pairs": "1", "--calls-per-session": "1", "--cpu-calls": "1", "--timeout": "1"}


def bad_values(tmp):
    return {"negative": "-1", "zero": "0", "huge": "99999999999999999999999", "non-numeric": "abc", "empty": "",
            "missing file": str(tmp / "no-such-file"), "directory": str(tmp / "a-directory"),
            "garbage": str(tmp / "garbage.bin")}


def check_no_trap(args, r):
    assert r.returncode >= 0, (args, f"killed by signal {-r.returncode}", r.stderr[-800:])
    assert r.returncode not in (132, 133, 134, 136, 137, 139), (args, r.returncode, r.stderr[-800:])
    for mark in TRAP_MARKS:
        assert mark not in r.stderr and mark not in r.stdout, (args, mark, r.stderr[-800:])
    assert r.returncode in DOCUMENTED, (args, r.returncode, r.stderr[-800:])
    if r.returncode in (64, 74):
        assert any(line.startswith("Error: ") for line in r.stderr.splitlines()), (args, r.stderr[-800:])


def test_help_documents_the_exit_codes(tmp_path):
    text = help_of((), tmp_path)
    for code in ("64", "74", "10-15", "70"):
        assert code in text, text


def test_every_subcommand_survives_bad_values(tmp_path):
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 4 + b"\xff\xfe{{{[[[")
    cwd = tmp_path
    leaves = commands(cwd)
    # Hidden commands (the portal tests' scripted upstreams) are not listed by --help, but
    # they are subcommands all the same.
    leaves += [(path, help_of(path, cwd)) for path in HIDDEN]
    names = {" ".join(p) for p, _ in leaves}
    # The listing is what the driver covers: it must reach the commands known today.
    for expected in ("log prove", "bundle demo", "bundle verify", "token issue", "mcp attach", "artifact verify", "key generate"):
        assert expected in names, names
    jobs = []
    for path, text in leaves:
        opts, positionals, usage = options(text)
        for target, takes_value, _ in opts + [(p, True, True) for p in positionals]:
            if not takes_value:
                continue
            for label, value in bad_values(tmp_path).items():
                args = list(path)
                for name, tv, required in opts:
                    if name == target or not tv:
                        continue
                    if required:
                        args += [name, CHEAP.get(name, str(tmp_path / "garbage.bin"))]
                    elif name in CHEAP:
                        args += [name, CHEAP[name]]
                if "--no-replay-stores" in text:
                    args.append("--no-replay-stores")
                for p in positionals:
                    args.append(value if p == target else str(tmp_path / "garbage.bin"))
                if target.startswith("--"):
                    args.append(f"{target}={value}")
                if "out" in target or target in ("--bundle", "--calls"):
                    # Outputs: never let a bad value write into the repository.
                    args = [a.replace(str(tmp_path / "no-such-file"), str(tmp_path / "out" / label)) for a in args]
                jobs.append(args)
    assert len(jobs) > 200, len(jobs)

    def one(args):
        try:
            r = run(*args, cwd=cwd, timeout=60)
        except subprocess.TimeoutExpired:
            return args, None
        return args, r

    timeouts, failures = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for args, r in pool.map(one, jobs):
            if r is None:
                timeouts.append(args)
                continue
            try:
                check_no_trap(args, r)
            except AssertionError as e:
                failures.append(str(e)[:600])
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} of {len(jobs)} runs)"
    assert not timeouts, timeouts


def test_cases_that_used_to_trap_are_usage_errors(tmp_path):
    (tmp_path / "k").write_text(SEED)
    log = ["--dir", tmp_path / "log", "--origin", "o.example/log"]
    key = ["--key", tmp_path / "k"]
    # Positive controls: a log of one receipt, checkpointed, proved; a small demo bundle.
    art = tmp_path / "demo"
    assert run("bundle", "demo", "--receipts", 10, "--checkpoint-every", 5, "--out", art, cwd=tmp_path).returncode == 0
    cases = [
        (["log", "prove", *log, "--seq=-1"], "--seq"),
        (["log", "prove", *log, "--from", 0], "--from"),
        (["log", "prove", *log, "--from", 2, "--size", 1], "--size"),
        (["bundle", "demo", "--receipts=-5", "--out", tmp_path / "d1"], "--receipts"),
        (["bundle", "demo", "--checkpoint-every", 0, "--out", tmp_path / "d2"], "--checkpoint-every"),
        (["bundle", "demo", "--receipts", 3, "--out", art], "--out"),
        (["log", "checkpoint", *log, *key, "--origin="], "--origin"),
        (["token", "issue", "--key", SEED, "--claims", tmp_path / "k"], "--key"),
        (["mcp", "attach", "--token", tmp_path / "k", "--key", tmp_path / "k", "--audience", "a", "--era", "1999-01-01"], "--era"),
        (["artifact", "verify", tmp_path / "k", "--authority", "x", "--now=-1"], "--now"),
    ]
    for args, named in cases:
        out = run(*args, cwd=tmp_path)
        assert out.returncode == 64, (args, out.returncode, out.stderr[-500:])
        assert out.stderr.startswith("Error: ") and named in out.stderr.splitlines()[0], (args, out.stderr)
        assert "Stack dump" not in out.stderr and "Fatal error" not in out.stderr


def note_key(tmp_path, origin="o.example/log"):
    import json
    (tmp_path / "nk").write_text(SEED)
    return json.loads(run("key", "show", "--key", tmp_path / "nk", "--origin", origin, cwd=tmp_path).stdout)["note_verifier"]


def test_file_errors_are_io_errors(tmp_path):
    (tmp_path / "dir").mkdir()
    vkey = note_key(tmp_path)
    cases = [
        (["bundle", "verify", tmp_path / "nope", "--authority", "x", "--log-key", vkey, "--now", 1], f"cannot read {tmp_path / 'nope'}: no such file"),
        (["artifact", "verify", tmp_path / "missing.json", "--authority", "x", "--now", 1],
         f"cannot read {tmp_path / 'missing.json'}: no such file"),
        (["artifact", "verify", tmp_path / "dir", "--authority", "x", "--now", 1], f"cannot read {tmp_path / 'dir'}: is a directory"),
        (["key", "show", "--key", tmp_path / "missing.seed"], f"cannot read {tmp_path / 'missing.seed'}: no such file"),
        (["token", "verify", "--token", tmp_path / "t", "--audience", "a", "--issuer", "https://i.example", "--jwks",
          tmp_path / "missing.json", "--trust-domain", "td.example"], "cannot read"),
        (["portal", "prove", "--store", tmp_path / "dir", "--seq", 0], "(not a portal store)"),
        (["portal", "backup", "--store", tmp_path / "dir", "--out", tmp_path / "backup"], "(not a portal store)"),
        (["portal", "status", "--store", tmp_path / "dir"], "(not a portal store)"),
        (["portal", "prune", "--store", tmp_path / "dir", "--payloads-before", 1], "(not a portal store)"),
        (["portal", "prune", "--store", tmp_path / "dir", "--log", "o.example/log"], "(not a portal store)"),
        (["portal", "rotate", "--from", tmp_path / "dir", "--config", tmp_path / "nope.json"],
         f"cannot read {tmp_path / 'nope.json'}: no such file"),
        (["portal", "close", "--config", tmp_path / "nope.json"], f"cannot read {tmp_path / 'nope.json'}: no such file"),
        (["portal", "restore", "--backup", tmp_path / "nope.backup", "--store", tmp_path / "restored"],
         f"cannot read {tmp_path / 'nope.backup'}: no such file"),
        (["bundle", "export", "--store", tmp_path / "dir", "--store", tmp_path / "dir", "--out", tmp_path / "two"], "(not a portal store)"),
    ]
    if os.geteuid() != 0:
        (tmp_path / "secret.json").write_text("{}")
        os.chmod(tmp_path / "secret.json", 0)
        cases.append((["artifact", "verify", tmp_path / "secret.json", "--authority", "x", "--now", 1], "permission denied"))
    for args, message in cases:
        r = run(*args, cwd=tmp_path)
        assert r.returncode == 74, (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr.startswith("Error: ") and message in r.stderr.splitlines()[0], (args, r.stderr)
        assert "Error Domain" not in r.stderr and "USAGE" not in r.stderr and "FAIL" not in r.stdout
    # A directory that is not a bundle is a malformed bundle (a verdict), not an I/O error.
    r = run("bundle", "verify", tmp_path / "dir", "--authority", "x", "--log-key", vkey, "--now", 1, cwd=tmp_path)
    assert r.returncode == 10 and r.stdout.startswith("FAIL BND_MALFORMED"), (r.returncode, r.stdout, r.stderr)


def test_semantic_errors_do_not_print_the_usage(tmp_path):
    (tmp_path / "claims.json").write_text('{"iss": "x"}')
    (tmp_path / "k").write_text(SEED)
    r = run("token", "issue", "--key", tmp_path / "k", "--claims", tmp_path / "claims.json", cwd=tmp_path)
    assert r.returncode == 1 and "not the claims of a token" in r.stderr, r.stderr
    assert "USAGE" not in r.stderr and "SUBCOMMANDS" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_verify_commands_do_not_wait_on_a_terminal(tmp_path):
    import pty
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    primary, secondary = pty.openpty()
    try:
        cases = [
            ["token", "verify", "--audience", "a", "--issuer", "https://i.example", "--jwks", tmp_path / "jwks.json",
             "--trust-domain", "td.example"],
            ["token", "verify-jws", "--jwk", tmp_path / "jwks.json"],
            ["mcp", "verify", "--era", "2025-11-25", "--audience", "a", "--issuer", "https://i.example",
             "--jwks", tmp_path / "jwks.json", "--trust-domain", "td.example"],
            ["impl", "json.parse"],
        ]
        for args in cases:
            r = run(*args, cwd=tmp_path, stdin=secondary, timeout=30)
            assert r.returncode == 64 and "standard input is a terminal" in r.stderr, (args, r.returncode, r.stderr)
    finally:
        os.close(primary)
        os.close(secondary)


def test_secrets_come_from_files_or_the_environment(tmp_path):
    claims = tmp_path / "claims.json"
    jkt = "A" * 43
    claims.write_text('{"iss": "https://i.example", "sub": "spiffe://td.example/a", "aud": "a", "iat": 100, "exp": 200, '
                      '"jti": "j", "cnf": {"jkt": "' + jkt + '"}, "agent": {"provider": "p", "model_family": "m", '
                      '"model_version": "1", "deployment": "d", "operator": "https://o.example"}}')
    (tmp_path / "k").write_text(SEED)
    by_file = run("token", "issue", "--key", tmp_path / "k", "--claims", claims, cwd=tmp_path)
    assert by_file.returncode == 0, by_file.stderr
    by_env = run("token", "issue", "--key", "env:ISSUER_SEED", "--claims", claims, cwd=tmp_path,
                 env={**os.environ, "ISSUER_SEED": SEED})
    assert by_env.returncode == 0 and by_env.stdout == by_file.stdout, by_env.stderr
    missing = run("token", "issue", "--key", "env:NO_SUCH_SEED_VARIABLE", "--claims", claims, cwd=tmp_path)
    assert missing.returncode == 64 and "NO_SUCH_SEED_VARIABLE" in missing.stderr
    # The seed itself is refused, and no help text offers a --seed option.
    inline = run("token", "issue", "--key", SEED, "--claims", claims, cwd=tmp_path)
    assert inline.returncode == 64 and "never the seed itself" in inline.stderr
    for path, text in commands(tmp_path):
        assert "--seed" not in text, path
