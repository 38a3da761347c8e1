"""The layers hold: no service reaches a transport (httpx, grpc, FastAPI, uvicorn) through
any chain of imports, and no two packages import each other. Read from the source with
ast, so the check needs no import of the code it checks."""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent / "logctl"
TRANSPORTS = {"httpx", "grpc", "fastapi", "uvicorn", "starlette", "grpc_health"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every logctl module (generated protobuf code left out) and what it imports."""
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if "pb" in path.relative_to(ROOT).parts[:1]:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
        found[module_name(path)] = names
    return found


def reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [name for name in graph.get(module, ()) if name in graph]
    return seen


def test_no_service_reaches_a_transport() -> None:
    graph = imports()
    offenders = {}
    for module in (m for m in graph if m.startswith("logctl.services")):
        for reached in reachable(module, graph):
            bad = {name.split(".")[0] for name in graph[reached]} & TRANSPORTS
            if bad:
                offenders[module] = (reached, sorted(bad))
    assert offenders == {}


def test_no_two_packages_import_each_other() -> None:
    graph = imports()

    def package(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2])

    edges = {(package(m), package(n)) for m, names in graph.items() for n in names
             if n in graph and package(m) != package(n)}
    assert sorted((a, b) for a, b in edges if (b, a) in edges and a < b) == []
