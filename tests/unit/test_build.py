"""What the build ships to browsers: the trimmed standard library must hold every
module our browser-side code imports, at module level or lazily in a function (a
missing one is an ImportError in a visitor's browser, at the worst moment)."""

from __future__ import annotations

import ast

from rtp_tag import build
from rtp_tag.layout import SOURCES_STAMP


def _imports_by_ast() -> set[str]:
    found: set[str] = set()
    for path in build.browser_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return {name for name in found if not name.startswith("rtp_tag")}


def test_the_import_walk_finds_every_import_of_our_browser_code_in_functions_too():
    expected = _imports_by_ast()
    assert "email.utils" in expected  # parse_retry_after's, made only for an HTTP-date Retry-After
    assert expected <= build.package_imports()


def test_modules_left_out_as_never_imported_are_not_imported_by_our_code():
    assert not _imports_by_ast() & set(build.NEVER_IMPORTED)


def test_a_built_dist_is_reused_only_while_the_sources_it_was_built_from_are_unchanged(tmp_path, monkeypatch):
    """The wheel's build hook reuses ``dist/`` when ``is_up_to_date``: a change to what the
    build reads must make it stale; a change to the server alone must not."""
    root, package = tmp_path / "checkout", tmp_path / "checkout" / "rtp_tag"
    for path, text in {
        "package-lock.json": "{}", "web/rtp.js": "var BUILD", "rtp_tag/commands.py": "x = 1",
        "rtp_tag/collector/app.py": "y = 1",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    monkeypatch.setattr(build, "ROOT", root)
    monkeypatch.setattr(build, "PACKAGE", package)
    dist = root / "dist"
    dist.mkdir()
    assert not build.is_up_to_date(dist)  # no stamp: built before stamps, or by hand
    (dist / SOURCES_STAMP).write_text(build.sources_hash() + "\n")
    assert build.is_up_to_date(dist)
    (package / "collector" / "app.py").write_text("y = 2")
    assert build.is_up_to_date(dist)
    for changed in ("rtp_tag/commands.py", "web/rtp.js", "package-lock.json"):
        (dist / SOURCES_STAMP).write_text(build.sources_hash() + "\n")
        (root / changed).write_text("changed")
        assert not build.is_up_to_date(dist), changed
