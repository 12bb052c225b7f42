"""The package's import graph runs one way: no import loops, no import up a layer.

Layers, bottom to top (a module may import its own sub-package and anything in a lower layer; the packages
of one layer do not import each other):

0. ``medwave.utils``
1. ``medwave.wavelets``, ``medwave.io``
2. ``medwave.networks`` (with their building blocks)
3. the pipelines: ``medwave.registration``, ``medwave.neuron``, ``medwave.gaze``, ``medwave.denoise``
4. ``medwave.transforms`` (MONAI transforms over the core and the pipelines)
5. the front doors: ``medwave.batch``, ``medwave.napari``, ``medwave.bundles``
6. the commands: ``medwave.commands``, ``medwave.cli``, ``medwave.demo``, ``medwave.warmup``

``medwave/__init__.py`` is the package's lazy facade over the pipelines' front doors (``medwave.register``,
...): it counts as a pipeline (layer 3), so the layers above may use it. The modules of the top layer (the
command line) may import each other. Every import counts, function-local ones included: a local import that would close a loop or
reach up a layer is a layering error all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import medwave

ROOT = Path(medwave.__file__).parent

LAYERS: list[tuple[str, ...]] = [
    ("utils",),
    ("wavelets", "io"),
    ("networks",),
    ("registration", "neuron", "gaze", "denoise"),
    ("transforms",),
    ("batch", "napari", "bundles"),
    ("commands", "cli", "demo", "warmup"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``medwave...`` module that ``path`` imports (absolute or relative, at any depth)."""
    mod = _module_name(path)
    return _imports_in(path.read_text(encoding="utf-8"), mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0])


def _imports_in(source: str, package: str) -> set[str]:
    """Every ``medwave...`` name imported by ``source``, a module of ``package``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from medwave.x import y" may import the submodule medwave.x.y
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "medwave" or n.startswith("medwave."))
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        # keep only edges to real modules (an imported name that is not a module points at its module)
        graph[mod] = {t if t in files else t.rsplit(".", 1)[0] for t in _imports(path)} - {mod}
        graph[mod] &= set(files)
    return graph


def _layer(mod: str) -> tuple[int, str]:
    parts = mod.split(".")
    if len(parts) < 2:
        return 3, "medwave"
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i, parts[1]
    raise AssertionError(f"{mod} is in no layer: add its package to LAYERS in {__file__}")


def _against_layers(graph: dict[str, set[str]]) -> list[str]:
    top = len(LAYERS) - 1
    bad = []
    for mod, targets in sorted(graph.items()):
        if mod == "medwave":
            continue
        src = _layer(mod)
        for t in sorted(targets):
            dst = _layer(t)
            if dst[0] > src[0] or (dst[0] == src[0] and dst[1] != src[1] and src[0] != top):
                bad.append(f"{mod} (layer {src[0]}) -> {t} (layer {dst[0]})")
    return bad


def test_no_import_runs_up_a_layer_or_across_one() -> None:
    bad = _against_layers(_graph())
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_loops() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package's __init__ importing its own submodules lazily is not a loop of modules
            if len(comp) > 1:
                loops.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not loops, "import loops:\n" + "\n".join(" <-> ".join(c) for c in loops)


def test_the_checker_finds_what_it_must() -> None:
    """The checker itself, on made-up graphs: up a layer, across a layer, and what is allowed."""
    assert _against_layers({"medwave.utils.x": {"medwave.io.image"}}) == [
        "medwave.utils.x (layer 0) -> medwave.io.image (layer 1)"]
    assert _against_layers({"medwave.io.x": {"medwave.wavelets.functional"}})  # siblings of one layer
    assert _against_layers({"medwave.gaze.api": {"medwave.napari._gaze"}})
    assert not _against_layers({"medwave.gaze.api": {"medwave.networks.gem", "medwave.io", "medwave.utils"}})
    assert not _against_layers({"medwave.cli": {"medwave.commands.register", "medwave"}})
    # function-local and relative imports are seen
    src = "def f():\n    from ..registration.api import register\n    import medwave.io\n    import numpy\n"
    assert _imports_in(src, "medwave.utils") == {"medwave.registration.api", "medwave.registration.api.register",
                                                   "medwave.io"}
