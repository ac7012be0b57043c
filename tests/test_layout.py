"""The layout a newcomer reads from the file list holds in the imports: no circle in acn_core/, app/ or bench/;
acn_core's wings stand on the ground and on lower wings only, and nothing imports its own package back; the app
and its pages import acn_core's wings only through what each wing exports, and app modules as a package."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# acn_core's floors, lowest first: a module may import its own floor and the floors below
FLOORS = [{"config", "storage", "runtime", "version", "knn", "names", "lazy"}, {"data"}, {"model"}, {"training"}, {"bundle"},
          {"sampling"}, {"teaching"}, {"jobs", "paper_check"}, {"cli"}, {"__main__", "__init__"}]
WINGS = {"data", "model", "training", "bundle", "teaching"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The dotted modules `path` imports (anywhere in it, lazy imports included), resolved to absolute names:
    `from pkg import mod` is an import of `pkg.mod` when that is a module, else of `pkg` (a name it defines)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


def graph(folder: str) -> dict[str, set[str]]:
    files = {module_name(p): p for p in (REPO / folder).rglob("*.py")}
    return {name: {m for m in imports(path, set(files)) if m in files and m != name} for name, path in files.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, or None (a depth-first search for a back edge)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def floor(name: str) -> int:
    top = name.split(".")[1] if name.count(".") else "__init__"
    return next(i for i, members in enumerate(FLOORS) if top in members)


def test_the_cycle_finder_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("folder", ["acn_core", "app", "bench"])
def test_no_import_circle(folder):
    edges = graph(folder)
    assert cycle(edges) is None, f"import circle in {folder}/: {' -> '.join(cycle(edges))}"


def test_acn_core_imports_only_its_own_floor_and_the_floors_below():
    climbs = [f"{name} ({floor(name)}) imports {target} ({floor(target)})"
              for name, targets in graph("acn_core").items() if name != "acn_core"
              for target in targets if target != "acn_core" and floor(target) > floor(name)]
    assert not climbs, "imports running up a floor:\n" + "\n".join(climbs)


def test_no_module_imports_its_own_package_back():
    back = [f"{name} imports {target}" for name, targets in graph("acn_core").items()
            for target in targets if name.startswith(target + ".") and target.count(".") < name.count(".")]
    assert not back, "\n".join(back)


def test_the_app_imports_wings_only_through_their_exports_and_app_modules_as_a_package():
    app_modules = {p.stem for p in (REPO / "app").glob("*.py")} - {"Home", "__init__"}
    exported = {}
    for wing in WINGS:
        tree = ast.parse((REPO / "acn_core" / wing / "__init__.py").read_text())
        exported[wing] = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                              and node.targets[0].id == "__all__")
    wrong = []
    for path in [*(REPO / "app").glob("*.py"), *(REPO / "pages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                wrong += [f"{where}: import {a.name}" for a in node.names if a.name in app_modules]
            elif isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] in app_modules:
                    wrong.append(f"{where}: from {node.module} (a bare app module)")
                if parts[0] == "acn_core" and len(parts) > 2 and parts[1] in WINGS:
                    wrong.append(f"{where}: from {node.module} (inside a wing)")
                if parts[0] == "acn_core" and len(parts) == 2 and parts[1] in WINGS:
                    wrong += [f"{where}: {a.name} is not exported by acn_core.{parts[1]}" for a in node.names
                              if a.name not in exported[parts[1]]]
    assert not wrong, "\n".join(wrong)
