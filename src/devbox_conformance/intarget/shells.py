# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""shells: bash/zsh, login and/or interactive, under the pty runner; reports PATH, HOME and aliases."""

import os
import shlex
import shutil

from .ptyrun import run_under_pty
from .text import OUTPUT_CAP, text

BEGIN = "__DEVBOX_PROBE_BEGIN__"
END = "__DEVBOX_PROBE_END__"


def _shell_script(aliases):
    """The commands the shell runs: markers, PATH, HOME and one `alias` test per name.

    Every name is quoted for the shell (an alias named `x$(touch /tmp/p)` ran that command in the target)
    and the answer names the alias by its index, so no name is ever part of a command or an output line.
    A name no alias can have (empty, a leading `-`, `=` or white space) is answered "not defined" here.
    """
    lines = ["printf '\\n%s\\n' " + BEGIN, 'printf "PATH=%s\\n" "$PATH"', 'printf "HOME=%s\\n" "$HOME"']
    for index, name in enumerate(aliases):
        if not name or name.startswith("-") or "=" in name or any(c.isspace() for c in name):
            # `alias -p` lists every alias and `alias a=b` defines one: both exit 0, neither is the test.
            lines.append("echo 'ALIAS %d 0'" % index)
            continue
        lines.append(
            "if alias %s >/dev/null 2>&1; then echo 'ALIAS %d 1'; else echo 'ALIAS %d 0'; fi"
            % (shlex.quote(name), index, index)
        )
    lines.append("printf '%s\\n' " + END)
    return "; ".join(lines)


def probe_shell(spec):
    """Run one shell under a pty; once more when it exited 0 but its output arrived incomplete.

    Under QEMU the pty's last output was seen lost once while the shell itself succeeded; a real defect (a
    profile script that exits early or fails) gives the same incomplete run twice, so the check still fails.
    """
    result = _run_shell(spec)
    if result.get("exit_code") == 0 and not result.get("completed") and not result.get("timed_out"):
        result = _run_shell(spec)
        result["attempts"] = 2
    return result


def _run_shell(spec):
    """Run one shell (bash/zsh, login and/or interactive) under a pseudo-terminal; stderr kept apart."""
    shell = shutil.which(spec["shell"])
    if shell is None:
        return {"available": False}
    argv = [shell]
    if spec.get("login"):
        argv.append("-l")
    if spec.get("interactive"):
        argv.append("-i")
    aliases = list(spec.get("aliases", []))
    argv += ["-c", _shell_script(aliases)]
    env = dict(os.environ)
    env.setdefault("TERM", "xterm")
    run = run_under_pty(argv, env, env.get("HOME", "/"), spec.get("timeout", 60))
    if run.get("error"):
        return {"available": True, "error": run["error"]}
    stdout = text(run["stdout"]).replace("\r\n", "\n").replace("\r", "\n")
    before, sep, after = stdout.partition("\n" + BEGIN + "\n")
    result = {
        "available": True,
        "exit_code": run["exit_code"],
        "timed_out": run["timed_out"],
        "stdout": before[:OUTPUT_CAP],
        "stderr": text(run["stderr"])[:OUTPUT_CAP],
        "path": None,
        "home": None,
        "aliases": {},
        "completed": bool(sep) and END in after,
    }
    for line in after.splitlines():
        if line.startswith("PATH="):
            result["path"] = line[5:]
        elif line.startswith("HOME="):
            result["home"] = line[5:]
        elif line.startswith("ALIAS "):
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(aliases):
                result["aliases"][aliases[int(parts[1])]] = parts[2] == "1"
    return result


def gather(request, pool):
    return {"shells": {s["name"]: pool.submit(probe_shell, s) for s in request.get("shells", [])}}
