"""`write_atomically`: the one way files under PAPERSCOPE_HOME are written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from paperscope.files import write_atomically
from paperscope.settings import Settings


def test_bytes_text_and_writer_functions_replace_the_file(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    write_atomically(target, b"one")
    assert target.read_bytes() == b"one"
    write_atomically(target, "twö")
    assert target.read_text(encoding="utf-8") == "twö"
    seen: list[Path] = []

    def writer(path: Path) -> None:
        seen.append(path)
        path.write_text("three")

    write_atomically(target, writer, durable=False)
    assert target.read_text() == "three"
    assert seen[0].parent == tmp_path and seen[0].suffix == ".json"  # libraries that add a suffix keep it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "index.usearch"
    write_atomically(target, b"old")

    def half_then_fail(path: Path) -> None:
        path.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.usearch"]


def test_secret_key_is_created_once_and_readable_only_by_its_owner(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    key = settings.signing_key()
    path = tmp_path / "home" / "secret_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Settings(home=tmp_path / "home").signing_key() == key and len(key) >= 48
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]
