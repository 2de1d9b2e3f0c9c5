"""The package's shape, read from its imports (ast, nothing is run).

DESIGN §1: no import circles; a lower layer never imports a higher one;
shipped code never imports research code (``ambiguation/research/``); no
module that only hands on names from elsewhere (old internal paths).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
RESEARCH = "dpimage.ambiguation.research"
#: The one door into research code: ``dpimage ambiguate evaluate`` writes the results
#: report, which measures the shipped fakes against the research controls.
RESEARCH_DOORS = {("dpimage.cli.ambiguate_eval", "dpimage.ambiguation.research.evaluate")}

#: DESIGN §1's table as ranks, lowest first: a module may import its own rank and below.
#: ``dpimage`` is the package's front (it hands on the public mechanisms).
LAYERS = (
    ("_validation", "extras"),
    ("cells", "privacy", "guarantee", "metrics"),
    ("release",),
    ("render",),
    ("mechanisms", ""),
    ("methods",),
    ("io",),
    ("regions", "datasets"),
    ("batch", "video", "eval", "attack", "tune", "ambiguation"),
    ("web",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, tuple[Path, ast.Module, bool]]:
    """``dotted name -> (path, syntax tree, is a package's __init__)`` for src/dpimage."""
    found = {}
    for path in sorted((SRC / "dpimage").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, ast.parse(path.read_text(encoding="utf-8")), is_package)
    return found


MODULES = _modules()


def _imported(name: str, tree: ast.Module, is_package: bool) -> set[str]:
    """The modules of this tree that ``name`` imports, at any depth.

    Lazy imports and those under ``if TYPE_CHECKING:`` count too: a type hint
    that names a higher module's type is an arrow back up all the same.
    ``from pkg import sub`` is an arrow to the submodule ``pkg.sub`` when there
    is one, otherwise to ``pkg`` itself (its ``__init__``).
    """
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            wanted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            wanted = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in wanted:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, (_, tree, is_package) in MODULES.items():
        graph.add_node(name)
        targets = _imported(name, tree, is_package)
        graph.add_edges_from((name, target) for target in targets)
    return graph


GRAPH = _graph()


def _layer(module: str) -> str:
    """``"release"`` for ``dpimage.release.colour``; ``""`` for the package's front."""
    return module.split(".")[1] if "." in module else ""


def test_the_import_graph_is_read():
    """Guards the test itself: known arrows are found."""
    assert ("dpimage.mechanisms", "dpimage.release") in GRAPH.edges
    assert ("dpimage.release", "dpimage.release.colour") in GRAPH.edges
    assert ("dpimage.cli", "dpimage.cli.tune") in GRAPH.edges


def test_no_import_circles():
    circles = [sorted(c) for c in nx.strongly_connected_components(GRAPH) if len(c) > 1]
    assert circles == [], "modules that import each other in a loop: " + "; ".join(
        " <-> ".join(c) for c in circles
    )


def test_shipped_code_never_imports_research_code():
    wrong = [
        (a, b)
        for a, b in GRAPH.edges
        if b.startswith(RESEARCH) and not a.startswith(RESEARCH) and (a, b) not in RESEARCH_DOORS
    ]
    assert wrong == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_lower_layer_never_imports_a_higher_one(module):
    layer = _layer(module)
    assert layer in RANK, f"{module}: add its layer to LAYERS (DESIGN §1's table)"
    higher = [
        target
        for target in GRAPH.successors(module)
        if RANK.get(_layer(target), -1) > RANK[layer]
    ]
    assert higher == [], f"{module} (layer {layer or 'dpimage'}) imports a higher layer"


def _used_names(tree: ast.Module) -> set[str]:
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    # string annotations (``from __future__ import annotations`` keeps them as code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                used |= {n.id for n in ast.walk(ast.parse(node.value)) if isinstance(n, ast.Name)}
            except SyntaxError:
                pass
    return used


def _is_all(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign | ast.AnnAssign) and any(
        isinstance(t, ast.Name) and t.id == "__all__"
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
    )


@pytest.mark.parametrize("module", sorted(m for m, (_, _, pkg) in MODULES.items() if not pkg))
def test_no_module_hands_on_names_from_elsewhere(module):
    """A module imports what it uses; only a package's ``__init__`` is its front.

    Catches the shims of old internal paths: a module-level ``__getattr__``
    that serves names from another module, and names imported only to be
    re-exported (listed in ``__all__`` or kept with ``noqa: F401``).
    """
    _, tree, _ = MODULES[module]
    assert not any(
        isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in tree.body
    ), f"{module} serves names lazily from elsewhere (module __getattr__)"
    imports = ast.Import | ast.ImportFrom
    rest = [n for n in tree.body if not isinstance(n, imports) and not _is_all(n)]
    used = _used_names(ast.Module(body=rest, type_ignores=[]))
    handed_on = [
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
        if (alias.asname or alias.name) not in used
    ]
    assert handed_on == [], f"{module} imports names only to hand them on: {sorted(handed_on)}"
