"""Fetch Oh My Zsh at a pinned ref into a shared folder, fail soft, record the outcome (stdlib only).

Example::

    python3 -B oh_my_zsh.py --ref d6aaafdc1d0f502b3fa119f3359c946082f8147b --enabled true

The outcome lands in the shell set's record (``/etc/devbox/sets/shell.json``, key ``features``) as
``installed``, ``skipped`` (not attempted, with why) or ``failed`` (attempted, with why). The build
never fails because GitHub is slow or unreachable.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tarfile
import tempfile
import threading
import urllib.request
from pathlib import Path

ARCHIVE = "https://github.com/ohmyzsh/ohmyzsh/archive/{ref}.tar.gz"


def download(url: str, timeout: float) -> bytes:
    """Fetch ``url`` within ``timeout`` seconds in total (DNS included), or raise."""
    box: dict[str, object] = {}

    def fetch() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
                box["data"] = response.read()
        except Exception as error:  # noqa: BLE001 - any failure is recorded, never raised
            box["error"] = error

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["data"]  # type: ignore[return-value]


def extract(data: bytes, dest: Path) -> None:
    """Unpack the archive's single top folder as ``dest``."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp, filter="data")
        else:  # Python < 3.11.4: members are checked by hand
            for member in archive.getmembers():
                if member.name.startswith(("/", "..")) or "/../" in member.name:
                    raise ValueError(f"unsafe path in archive: {member.name}")
            archive.extractall(tmp)  # noqa: S202 - checked above
        (top,) = list(Path(tmp).iterdir())
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(top), dest)


def record_feature(records_dir: Path, set_name: str, state: dict[str, str]) -> None:
    path = records_dir / f"{set_name}.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"kind": "apt"}
    record.setdefault("features", {})["oh-my-zsh"] = state
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"devbox: oh-my-zsh: {state['state']}: {state['reason']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="tag or commit (OH_MY_ZSH_REF)")
    parser.add_argument("--enabled", default="true", help="INSTALL_OH_MY_ZSH")
    parser.add_argument("--set-enabled", default="true", help="INSTALL_SHELL")
    parser.add_argument("--dest", type=Path, default=Path("/usr/local/share/oh-my-zsh"))
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole download")
    parser.add_argument("--records-dir", type=Path, default=Path("/etc/devbox/sets"))
    args = parser.parse_args(argv)

    if args.set_enabled.strip().lower() != "true":
        return 0  # the set's record already says why it is absent
    if args.enabled.strip().lower() != "true":
        state = {"state": "skipped", "reason": "INSTALL_OH_MY_ZSH=false"}
    elif not shutil.which("zsh"):
        state = {"state": "skipped", "reason": "zsh is not installed"}
    else:
        url = ARCHIVE.format(ref=args.ref)
        try:
            extract(download(url, args.timeout), args.dest)
            state = {"state": "installed", "reason": f"{args.ref} in {args.dest}"}
        except Exception as error:  # noqa: BLE001 - fail soft by design; the reason is recorded
            state = {"state": "failed", "reason": f"github.com unreachable at build ({url}): {error}"[:300]}
    record_feature(args.records_dir, "shell", state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
