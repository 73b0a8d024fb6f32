"""archsim.files.write_atomically: all or none, no leftovers, ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from archsim.files import TEMP_SUFFIX, write_atomically


def test_new_files_get_the_permissions_of_an_ordinary_file(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomically({tmp_path / "report.json": "{}", tmp_path / "plot.png": b"\x89PNG"})
    finally:
        os.umask(old)
    for name in ("report.json", "plot.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


def test_a_failure_part_way_changes_no_target_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "a.csv").write_text("old a")

    def chunks():
        yield "new "
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        write_atomically({tmp_path / "a.csv": "new a", tmp_path / "b.jsonl": chunks()})
    assert (tmp_path / "a.csv").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    assert not list(tmp_path.glob(f".*{TEMP_SUFFIX}"))
