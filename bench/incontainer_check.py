# ruff: noqa: UP031 - runs on the target's own python3 (any >= 3.8); plain %-formatting keeps it simple
"""One check of one item, run INSIDE the target by the peer runners (container-structure-test, testinfra).

Why it exists: a peer tool can only say "this command exited 0" or "its output matched a regex". Three of
the contract's kinds need a little logic to mean the same as the suite's check — a PEP 440-ish version
comparison (binaries with `version:`, distributions with `min_version:`) and a shell started under a
pseudo-terminal (greeting, PATH, aliases, quiet stderr). Both peers ship this same file through
`python3 -c` with ONE item's spec as JSON in argv[1], so they check exactly the same thing; what a peer
does NOT get from it is the suite's batching: one process per check, as a team writing those tools would.

The pty runner is the suite's own (`devbox_conformance.intarget.ptyrun`), not a copy: `peer_checks.py`
packs this file with it into one source (`CHECKER_SOURCE`: the probe's importer serves both from
memory), so the image needs nothing of this project. Standard library only, like that runner (the image
may lack `packaging`). Exit 0: pass (an absent optional item prints `SKIP: ...` and exits 0, the closest
a peer tool has to a skip); exit 1: fail, with the reason on stdout.
"""

import json
import os
import pwd
import re
import shutil
import subprocess
import sys

from devbox_conformance.intarget.ptyrun import run_under_pty

VERSION_RE = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)")


def release(text):
    """(2, 13, 0) from "2.13.0+cpu": the numeric release segments, enough for >=/</== on real versions."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    if not match:
        raise ValueError("no version in %r" % text)
    return tuple(int(p) for p in match.group(1).split("."))


def _cmp(a, b):
    width = max(len(a), len(b))
    a = a + (0,) * (width - len(a))
    b = b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def satisfies(version, spec):
    """True when `version` meets a comma-separated specifier (>=, >, <=, <, ==, !=, ~=, ==X.*)."""
    have = release(version)
    for clause in [c.strip() for c in spec.split(",") if c.strip()]:
        match = re.match(r"(~=|==|!=|>=|<=|>|<)\s*(.+)", clause)
        if not match:
            raise ValueError("unsupported specifier %r" % clause)
        op, want_text = match.groups()
        if want_text.endswith(".*"):
            prefix = release(want_text[:-2])
            same = have[: len(prefix)] == prefix
            if (op == "==" and not same) or (op == "!=" and same):
                return False
            continue
        want = release(want_text)
        c = _cmp(have, want)
        ok = {
            ">=": c >= 0,
            ">": c > 0,
            "<=": c <= 0,
            "<": c < 0,
            "==": c == 0,
            "!=": c != 0,
            "~=": c >= 0 and have[: max(len(want) - 1, 1)] == want[: max(len(want) - 1, 1)],
        }[op]
        if not ok:
            return False
    return True


def absent(spec, what):
    if spec.get("optional"):
        print("SKIP: optional, absent: %s (%s)" % (what, spec.get("reason") or "optional item"))
        return 0
    print("FAIL: %s" % what)
    return 1


def check_binary(spec):
    path = shutil.which(spec["name"])
    if path is None:
        return absent(spec, "%s not on PATH" % spec["name"])
    if not spec.get("version"):
        print(path)
        return 0
    try:
        proc = subprocess.run(
            [path] + list(spec.get("version_args") or ["--version"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print("FAIL: %s: version unknown: %s" % (path, exc))
        return 1
    output = proc.stdout.decode("utf-8", "replace")
    regex = spec.get("version_regex")
    match = re.search(regex, output, re.M) if regex else VERSION_RE.search(output)
    if not match:
        print("FAIL: %s: no version in %r" % (path, output[:200]))
        return 1
    version = match.group(1) if match.groups() else match.group(0)
    if not satisfies(version, spec["version"]):
        print("FAIL: %s %s does not satisfy %s" % (path, version, spec["version"]))
        return 1
    print("%s %s" % (path, version))
    return 0


def check_dist(spec):
    import importlib
    import importlib.metadata

    try:
        version = importlib.metadata.version(spec["name"])
    except importlib.metadata.PackageNotFoundError:
        return absent(spec, "%s not installed" % spec["name"])
    if spec.get("min_version") and not satisfies(version, ">=" + spec["min_version"]):
        print("FAIL: %s %s < %s" % (spec["name"], version, spec["min_version"]))
        return 1
    if spec.get("import_name"):
        try:
            importlib.import_module(spec["import_name"])
        except BaseException as exc:  # an import may raise anything, SystemExit included
            print(
                "FAIL: %s %s; import %s failed: %s: %s"
                % (spec["name"], version, spec["import_name"], type(exc).__name__, exc)
            )
            return 1
    print("%s %s" % (spec["name"], version))
    return 0


def run_shell_under_pty(argv, timeout):
    """(exit code, stdout, stderr, problem) of argv under the suite's pty runner, as the probe runs a shell.

    The runner itself is the suite's (`devbox_conformance.intarget.ptyrun`, shipped beside this file in
    the same `python3 -c`); what is set up here is what the probe's shells gatherer sets up: TERM, and HOME
    for a process started without one (a login would set it from passwd) as the working directory.
    """
    env = dict(os.environ)
    env.setdefault("TERM", "xterm")
    if not env.get("HOME"):
        env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    run = run_under_pty(argv, env, env.get("HOME", "/"), timeout)
    if run.get("error"):
        return None, "", "", "cannot start: %s" % run["error"]
    text = run["stdout"].decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    problem = "no exit within %s s" % timeout if run["timed_out"] else None
    return run["exit_code"], text, run["stderr"].decode("utf-8", "replace"), problem


MARKER = "__BENCH_SHELL__"


def shell_script(spec):
    """What the shell runs after its start-up files: a marker, PATH, HOME and each alias asked for."""
    # No dollar sign in this file: container-structure-test expands dollar-NAME in a command's arguments
    # with the image's environment before the command runs (it would print the image's PATH, empty HOME).
    dollar = chr(36)
    script = [
        "printf '\\n%s\\n' " + MARKER,
        'printf "PATH=%s\\n" "' + dollar + 'PATH"',
        'printf "HOME=%s\\n" "' + dollar + 'HOME"',
    ]
    for alias in spec.get("aliases") or []:
        script.append("alias %s >/dev/null 2>&1 && echo 'ALIAS %s'" % (alias, alias))
    script.append("true")
    return "; ".join(script)


def greeting_problems(spec, before):
    """The greeting printed once, first (or, with `greeting: ""`, nothing printed at all)."""
    lines = [ln.strip() for ln in before.splitlines() if ln.strip()]
    greeting = spec.get("greeting")
    if greeting and (lines.count(greeting) != 1 or lines[0] != greeting):
        return ["greeting %r not printed once, first (%r)" % (greeting, lines[:3])]
    if greeting == "" and lines:
        return ["unexpected output %r" % lines[0]]
    return []


def environment_problems(spec, after):
    """PATH entries and aliases, from what the script printed after the marker."""
    facts = dict(ln.split("=", 1) for ln in after.splitlines() if "=" in ln and ln[:4] in ("PATH", "HOME"))
    home = facts.get("HOME", "~")
    entries = facts.get("PATH", "").split(":")
    problems = []
    for entry in spec.get("path_contains") or []:
        wanted = home + entry[1:] if entry.startswith("~") else entry
        if wanted not in entries:
            problems.append("PATH lacks %s" % wanted)
    for alias in spec.get("aliases") or []:
        if "ALIAS %s" % alias not in after:
            problems.append("alias %s not defined" % alias)
    return problems


def check_shell(spec):
    shell = shutil.which(spec["shell"])
    if shell is None:
        return absent(spec, "%s not on PATH" % spec["shell"])
    argv = [shell] + (["-l"] if spec.get("login") else []) + (["-i"] if spec.get("interactive") else [])
    code, out, err, problem = run_shell_under_pty(argv + ["-c", shell_script(spec)], 60)
    before, _, after = out.partition("\n" + MARKER + "\n")
    problems = [problem] if problem else []
    if code != 0 and not problem:
        problems.append("exit code %s" % code)
    problems += greeting_problems(spec, before) + environment_problems(spec, after)
    if spec.get("stderr_empty", True) and err.strip():
        problems.append("stderr: %r" % err.strip()[:200])
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    return 0


def main(argv):
    spec = json.loads(argv[1])
    return {"binary": check_binary, "dist": check_dist, "shell": check_shell}[spec["check"]](spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
