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


# The rooms of docs/architecture.md ("Rooms, and where a change goes"), left to right.
ROOMS = {
    "sources": "corpus csvreader feeds frontmatter parquet shortcodes namespaces cjk",
    "records": "articles records text fields",
    "vectors and terms": "embedding embedding_service vectors lexical duplicates neighbours index",
    "snapshot": "pipeline raybuild reuse snapshot layout",
    "engine": "engine catalog candidates scoring filling explain ranking request",
    "interfaces": "cli editing exporting evaluation",
}
USED_BY_ALL = (
    "__init__ arrays clicks config errors events experiments jobs links live locking "
    "postgres rules sql sqlite state stores migrations"
)
# A reader makes records, so it knows the record type and the supplied-vector check.
READERS_MAKE = {("sources", "records"), ("sources", "vectors and terms")}


def test_no_room_imports_a_room_to_its_right() -> None:
    order = list(ROOMS)
    room_of = {module: room for room, modules in ROOMS.items() for module in modules.split()}
    against = []
    for path in sorted((ROOT / "recommender").rglob("*.py")):
        module = path.relative_to(ROOT / "recommender").parts[0].removesuffix(".py")
        if module not in room_of:
            continue  # shared state and the modules every room uses (config, errors)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and node.module:
                target = node.module.split(".")[0]
                if target not in room_of:
                    continue
                pair = (room_of[module], room_of[target])
                if order.index(pair[1]) > order.index(pair[0]) and pair not in READERS_MAKE:
                    against.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {target}")
    assert against == []
    # Every module of the core is in a room or named as used by all.
    shared = set(USED_BY_ALL.split())
    modules = {p.stem for p in (ROOT / "recommender").glob("*.py")} | {"evaluation", "migrations"}
    assert modules - set(room_of) - shared == set()
