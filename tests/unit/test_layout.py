"""Which built tag ``rtp-tag serve`` and the pytest plugin serve (``layout.find_dist``):
``--dist`` wins, a checkout's ``./dist`` comes next, then the tag inside the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtp_tag import layout


def _built(directory: Path, loader: str = "rtp.js") -> Path:
    directory.mkdir(parents=True)
    (directory / loader).write_text("// a built tag")
    return directory


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package's own built tag (an installed wheel's), and no editable checkout."""
    monkeypatch.setattr(layout, "PACKAGED_DIST", _built(tmp_path / "site-packages" / "rtp_tag" / "dist"))
    monkeypatch.setattr(layout, "CHECKOUT_DIST", tmp_path / "site-packages" / "dist")
    return layout.PACKAGED_DIST


def test_an_explicit_dist_wins_over_dist_in_the_current_directory_and_the_packaged_one(tmp_path, packaged):
    _built(tmp_path / "here" / "dist")
    chosen = _built(tmp_path / "elsewhere")
    assert layout.find_dist(chosen, cwd=tmp_path / "here") == chosen


def test_dist_in_the_current_directory_wins_over_the_packaged_one(tmp_path, packaged):
    checkout = _built(tmp_path / "checkout" / "dist")
    assert layout.find_dist(None, cwd=tmp_path / "checkout") == checkout


def test_without_dist_here_the_tag_inside_the_package_is_served(tmp_path, packaged):
    (tmp_path / "site").mkdir()
    assert layout.find_dist(None, cwd=tmp_path / "site") == packaged
    assert layout.find_dist("", cwd=tmp_path / "site") == packaged  # RTP_TAG_DIST= set but empty


def test_a_packaged_tag_holding_only_a_compressed_loader_counts_as_built(tmp_path, monkeypatch):
    lean = _built(tmp_path / "rtp_tag" / "dist", loader="rtp.js.br")
    monkeypatch.setattr(layout, "PACKAGED_DIST", lean)
    assert layout.find_dist(None, cwd=tmp_path) == lean


def test_an_explicit_dist_without_a_tag_is_an_error_saying_what_to_pass(tmp_path, packaged):
    (tmp_path / "empty").mkdir()
    with pytest.raises(layout.NoBuiltTag, match=r"no built tag in .*empty: pass --dist .*rtp-tag build"):
        layout.find_dist(tmp_path / "empty", cwd=tmp_path)


def test_no_tag_anywhere_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "PACKAGED_DIST", tmp_path / "nothing")
    monkeypatch.setattr(layout, "CHECKOUT_DIST", tmp_path / "nothing either")
    with pytest.raises(layout.NoBuiltTag, match="install rtp-tag from its wheel.*rtp-tag build"):
        layout.find_dist(None, cwd=tmp_path)


def test_the_runtime_key_changes_with_any_runtime_file_and_needs_them_all():
    manifest = {name: {"integrity": f"sha384-{name}"} for name in layout.SHIPPED_RUNTIME}
    key = layout.runtime_key(manifest)
    assert key is not None and layout.RUNTIME_DIR.match(layout.runtime_dir(key) + "pyodide.mjs")
    changed = {**manifest, "pyodide.asm.wasm": {"integrity": "sha384-other"}}
    assert layout.runtime_key(changed) != key
    del changed["python_stdlib.zip"]
    assert layout.runtime_key(changed) is None
