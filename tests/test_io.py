"""Atomic outputs: complete or absent, with the usual permissions."""

import os

import pytest

from tide.io import atomic_dir, atomic_write_text


def test_atomic_file_has_umask_permissions(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o666 & ~mask


def test_failed_atomic_dir_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out") as d:
            (d / "half.txt").write_text("partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_and_is_readable(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with atomic_dir(tmp_path / "out") as d:
        (d / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new.txt"]
    assert os.stat(tmp_path / "out").st_mode & 0o755 == 0o755


def test_figures_are_readable_like_every_other_output(tmp_path):
    """The report's figures go through the same atomic write (they used to be 0600)."""
    from tide.report.figures import plot_lambda_heatmap

    old = os.umask(0o022)
    try:
        png, pdf = plot_lambda_heatmap(tmp_path / "lambda.png", l_init=0.1, l_max=0.9)
    finally:
        os.umask(old)
    assert os.stat(png).st_mode & 0o777 == 0o644 and os.stat(pdf).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lambda.pdf", "lambda.png"]


def test_failed_atomic_file_leaves_nothing(tmp_path):
    from tide.io import atomic_file

    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "a.png", suffix=".png") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
