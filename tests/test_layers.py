"""Layers point one way: what each package may import (read from the source, not run)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "wrencos_studio"

# What each layer may import from the others (its own modules always). The entry points
# (cli, __main__) may import anything; app.py is the composition root.
ALLOWED: dict[str, set[str]] = {
    "store": {"clock", "codec"},
    # Product rules, prices, images and CSV files: plain Python the hub and the studio use.
    "catalog": {"store"},
    "hub": {"store", "catalog", "clock", "codec", "config"},
    "media": {"hub", "clock", "config"},
    # Public tunnels (cloudflared, ngrok, tailscale funnel): processes only, no project layer.
    "tunnel": set(),
    # An event loop on a thread of its own (the studio's program): asyncio only.
    "loop_thread": set(),
    "app": {"hub", "media", "store", "config", "addresses", "demo", "clock", "tunnel"},
    "demo": {"app", "store", "clock"},
    "ui": {
        "app",
        "hub",
        "media",
        "catalog",
        "codec",
        "config",
        "addresses",
        "clock",
        "tunnel",
        "loop_thread",
    },
}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Layers a module imports at run time (``TYPE_CHECKING`` blocks do not count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.module:
                parts = child.module.split(".")
                if parts[0] == "wrencos_studio" and len(parts) > 1:
                    found.add(parts[1])
                elif parts[0] == "wrencos_studio":
                    found.update(a.name for a in child.names)
            visit(child)

    visit(tree)
    return found


def test_layers_point_one_way() -> None:
    """hub/media/store never import ui, app or cli; store imports no hub; ui is a leaf."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer not in ALLOWED:
            continue
        for target in _imports(path) - {layer}:
            if (
                target not in ALLOWED[layer]
                and (PACKAGE / target).exists() | (PACKAGE / f"{target}.py").exists()
            ):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert wrong == []


def test_qt_is_imported_only_under_ui() -> None:
    """PySide6 appears in ui/ only, so ``serve`` can run where Qt cannot."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _layer(path) != "ui" and "PySide6" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
