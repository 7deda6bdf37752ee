"""Every plan node type has an arm in each dispatch over plan nodes (issue 13).

:data:`sharding.sql.nodes.PlanNode` is the union of the node types a plan tree holds;
:meth:`sharding.exec.run.Runner.operator`, the ``walk`` of
:func:`sharding.exec.explain.explain_rows` and
:func:`sharding.sql.describe.shard_positions` are ``match`` statements over it ending
in ``assert_never``. mypy --strict reports a forgotten node type there; these tests
report it without mypy, by reading the ``match`` statements' class patterns from the
source — and they check that a node class added to :mod:`sharding.sql.nodes` joins
the union.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from types import ModuleType

import pytest

from sharding.exec import explain, run
from sharding.sql import describe, nodes
from sharding.sql.nodes import PlanNode

#: Classes of :mod:`sharding.sql.nodes` that are data inside nodes, not nodes.
NOT_NODES = {"LimitRef", "ShardRead", "OutputColumn"}


def _members() -> set[str]:
    return {cls.__name__ for cls in typing.get_args(PlanNode)}


def _function(module: ModuleType, path: tuple[str, ...]) -> ast.FunctionDef:
    """The (possibly nested) function ``path`` of ``module``'s source."""
    scope: ast.AST = ast.parse(textwrap.dedent(inspect.getsource(module)))
    for name in path:
        found = [
            n
            for n in ast.iter_child_nodes(scope)
            if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name
        ]
        assert len(found) == 1, f"{module.__name__}: no single {name!r} in {path}"
        scope = found[0]
    assert isinstance(scope, ast.FunctionDef)
    return scope


def _dispatch(fn: ast.FunctionDef) -> ast.Match:
    """The function's one top-level ``match`` statement (its dispatch on the node)."""
    matches = [s for s in fn.body if isinstance(s, ast.Match)]
    assert len(matches) == 1, f"{fn.name}: expected one match statement on the node"
    return matches[0]


def _arms(match: ast.Match) -> list[str]:
    """The class names of the match's ``case Cls():`` arms (``case A() | B():`` counts
    for both), in order."""
    names: list[str] = []
    for case in match.cases:
        alternatives = case.pattern.patterns if isinstance(case.pattern, ast.MatchOr) else []
        for pattern in alternatives or [case.pattern]:
            if isinstance(pattern, ast.MatchClass):
                assert isinstance(pattern.cls, ast.Name), ast.unparse(pattern)
                names.append(pattern.cls.id)
    return names


DISPATCHES = {
    "Runner.operator": (run, ("Runner", "operator")),
    "explain_rows.walk": (explain, ("explain_rows", "walk")),
    "describe.shard_positions": (describe, ("shard_positions",)),
}


@pytest.mark.parametrize("where", sorted(DISPATCHES))
def test_every_plan_node_has_an_arm(where: str) -> None:
    module, path = DISPATCHES[where]
    arms = _arms(_dispatch(_function(module, path)))
    assert len(arms) == len(set(arms)), f"{where}: duplicate arms {arms}"
    missing = _members() - set(arms)
    assert not missing, f"{where} has no arm for {sorted(missing)}"
    extra = set(arms) - _members()
    assert not extra, f"{where} matches {sorted(extra)}, which are not PlanNode members"


@pytest.mark.parametrize("where", sorted(DISPATCHES))
def test_dispatch_ends_in_assert_never(where: str) -> None:
    """The last arm is ``case _: assert_never(node)``: what makes mypy check the rest."""
    module, path = DISPATCHES[where]
    match = _dispatch(_function(module, path))
    last = match.cases[-1]
    assert isinstance(last.pattern, ast.MatchAs) and last.pattern.pattern is None
    assert [ast.unparse(s) for s in last.body] == ["assert_never(node)"]
    assert ast.unparse(match.subject) == "node"


def test_every_node_class_is_a_plan_node() -> None:
    """A node class added to :mod:`sharding.sql.nodes` must join :data:`PlanNode` (or
    the dispatch checks above would not see it)."""
    defined = {
        name
        for name, obj in vars(nodes).items()
        if inspect.isclass(obj) and obj.__module__ == nodes.__name__
    }
    assert defined >= NOT_NODES
    assert defined - NOT_NODES <= _members()


def test_plan_nodes_are_frozen_dataclasses() -> None:
    """Plans are cached and shared between calls: no node may be mutable."""
    for cls in typing.get_args(PlanNode):
        assert dataclasses.is_dataclass(cls), cls
        assert vars(cls)["__dataclass_params__"].frozen, cls
