"""The one-way flow between the rooms: the core library knows nothing of HTTP,
and the web layer uses only the core's public names (``recommender.__all__``),
so the core's modules can be rearranged without touching it."""

from __future__ import annotations

import ast

import recommender

from .conftest import ROOT


def imports(package: str) -> list[tuple[str, int, str, list[str]]]:
    """``(file, line, module, names)`` of every ``from X import names`` in ``package``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [alias.name for alias in node.names]
                found.append((str(path.relative_to(ROOT)), node.lineno, node.module, names))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found.append((str(path.relative_to(ROOT)), node.lineno, alias.name, []))
    return found


def test_the_core_imports_nothing_of_the_web() -> None:
    web = ("flask", "flask_openapi3", "flask_cors", "werkzeug", "gunicorn", "service")
    found = [
        (file, f"{file}:{line} imports {module}")
        for file, line, module, _ in imports("recommender")
        if module.split(".")[0] in web
    ]
    # The command line is a layer of its own: `recommender serve` starts the server.
    assert [what for file, what in found if file != "recommender/cli.py"] == []
    assert [what.split(" imports ")[1] for file, what in found] == ["service.server"]


def test_the_web_layer_uses_only_the_cores_public_names() -> None:
    public = set(recommender.__all__)
    offending = [
        f"{file}:{line} imports {module}"
        for file, line, module, names in imports("service")
        if module.startswith("recommender.")
        or (module == "recommender" and not set(names) <= public)
    ]
    assert offending == []
    used = {
        name
        for _, _, module, names in imports("service")
        if module == "recommender"
        for name in names
    }
    assert {"Engine", "Settings", "IndexLocked", "JobConflict"} <= used <= public
