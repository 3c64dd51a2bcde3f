"""Folders that refuse writes, for the tests of download destinations.

`chmod 0o500` stops a normal user, but root ignores permission bits. For root the folder is
also made immutable with `chattr +i`, which stops root too on ext4 and the other Linux file
systems that support the attribute. A test is skipped, with the reason, when neither works.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _can_create_file(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@contextlib.contextmanager
def unwritable_folder(parent: Path) -> Iterator[Path]:
    """Yield an empty folder in `parent` in which this process cannot create files."""
    folder = parent / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    immutable = False
    try:
        if _can_create_file(folder):
            chattr = shutil.which("chattr")
            if chattr is not None:
                done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
                immutable = done.returncode == 0
            if _can_create_file(folder):
                pytest.skip(
                    "this process can write into a folder with mode 0o500, and chattr +i "
                    "is not available to stop it"
                )
        yield folder
    finally:
        if immutable:
            subprocess.run([str(shutil.which("chattr")), "-i", str(folder)], check=False)
        folder.chmod(0o700)


def path_under_file(parent: Path) -> Path:
    """Return a folder path whose parent is a regular file, which no one can create."""
    blocker = parent / "a-file"
    blocker.write_text("not a folder")
    return blocker / "sub"
