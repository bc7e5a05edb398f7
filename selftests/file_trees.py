"""Small trees of text files (expectation directories, a team's repository, snapshots) written for a test.

Why one helper: the expectation, team-contract, install and snapshot tests each had their own loop writing
{relative path: text} under a root, making the parent folders on the way.
"""

from __future__ import annotations

from pathlib import Path


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write each {relative path: text} of `files` under `root`, parent folders made as needed; returns
    `root`, so a call can name the directory it filled."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
