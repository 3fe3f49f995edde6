"""The package modules a `tryon` CLI command imports: the code dependencies of a DVC stage.

Found statically, from the source: every `import` of a `tryon` module, followed transitively, in
function bodies too (a library function may import lazily what it needs). CLI modules are the
exception: they import their heavy libraries inside each command, so for them only module-level
imports count, plus those in the body of the command that runs. Statically, an import that runs
only on some path is still counted, so the closure is never smaller than what a run imports.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path

PACKAGE = "tryon"
CLI_PACKAGE = "tryon.cli"


def package_root() -> Path:
    """The folder holding the `tryon` package's source (its parent is the repository root)."""
    return Path(__file__).resolve().parents[1]


def module_file(name: str, *, root: Path | None = None) -> Path | None:
    """The source file of package module `name` (`tryon.a.b`), or None when it is not a module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = (root or package_root()).joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST, *, into_functions: bool) -> Iterable[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif _is_type_checking_block(child):
            continue  # never runs
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and not into_functions:
            continue
        else:
            yield from _import_nodes(child, into_functions=into_functions)


def _imported_names(node: ast.Import | ast.ImportFrom, *, module: str, is_package: bool) -> list[str]:
    """Absolute names an import statement may load: the module and, for `from M import x`, `M.x`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, node.module] if node.module else package)
    else:
        base = node.module or ""
    return [base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")]


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _with_parents(name: str) -> list[str]:
    """`tryon.a.b` and the packages Python imports first: `tryon`, `tryon.a`."""
    parts = name.split(".")
    return [".".join(parts[: index + 1]) for index in range(len(parts))]


def direct_imports(name: str, *, node: ast.AST | None = None, root: Path | None = None) -> set[str]:
    """The package modules that module `name` (or `node`, a part of it) imports, parents included."""
    path = module_file(name, root=root)
    if path is None:
        raise ModuleNotFoundError(f"{name}: no such module in the {PACKAGE} package")
    thin_cli = name == CLI_PACKAGE or name.startswith(CLI_PACKAGE + ".")
    tree = node if node is not None else _parse(path)
    found: set[str] = set()
    for statement in _import_nodes(tree, into_functions=node is not None or not thin_cli):
        for imported in _imported_names(statement, module=name, is_package=path.name == "__init__.py"):
            found.update(part for part in _with_parents(imported) if module_file(part, root=root))
    return found


def import_closure(roots: Iterable[str], *, root: Path | None = None) -> set[str]:
    """Every package module that importing `roots` can load, transitively."""
    seen: set[str] = set()
    pending = [part for name in roots for part in _with_parents(name) if module_file(part, root=root)]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(direct_imports(name, root=root) - seen)
    return seen


def command_callback(words: Sequence[str]) -> Callable:
    """The function behind `tryon WORDS...`, e.g. ("data", "validate") or ("train",)."""
    import typer.main

    from tryon.cli import app

    group: typer.Typer = app
    for index, word in enumerate(words):
        last = index == len(words) - 1
        for command in group.registered_commands:
            name = command.name or typer.main.get_command_name(command.callback.__name__)
            if last and name == word:
                return command.callback
        for info in group.registered_groups:
            if not last and info.name == word:
                group = info.typer_instance
                break
        else:
            break
    raise LookupError(f"`tryon {' '.join(words)}` is not a command; see `tryon --help`")


def command_modules(words: Sequence[str]) -> set[str]:
    """The package modules that running `tryon WORDS...` can import.

    The console script imports `tryon.cli` (every command module at its top level; `python -m
    tryon.cli` adds `__main__`); the command then runs its own function, whose imports are
    followed with everything they reach.
    """
    callback = command_callback(words)
    module = callback.__module__
    definitions = [
        node
        for node in _parse(module_file(module)).body
        if isinstance(node, ast.FunctionDef) and node.name == callback.__name__
    ]
    if len(definitions) != 1:
        raise LookupError(f"{module}: expected one top-level definition of {callback.__name__}")
    lazy = direct_imports(module, node=definitions[0])
    entry = [name for name in (CLI_PACKAGE, f"{CLI_PACKAGE}.__main__") if module_file(name)]
    return import_closure([*entry, module, *lazy])


def module_paths(modules: Iterable[str], *, relative_to: Path | None = None) -> list[Path]:
    """Source files of `modules`, sorted, relative to the repository root by default."""
    base = relative_to or package_root().parent
    return sorted(module_file(name).relative_to(base) for name in modules)
