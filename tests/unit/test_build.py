"""What the build ships to browsers: the trimmed standard library must hold every
module our browser-side code imports, at module level or lazily in a function (a
missing one is an ImportError in a visitor's browser, at the worst moment)."""

from __future__ import annotations

import ast

from rtp_tag import build


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
