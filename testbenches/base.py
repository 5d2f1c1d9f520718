"""The testbench registry: a testbench is a netlist builder plus named measurements."""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from types import MappingProxyType
from typing import Any, Callable, Mapping

from spicegen.naming import check_name

#: Modules that register the built-in testbenches on import.
LIBRARY: tuple[str, ...] = ()


@dataclass(frozen=True)
class Testbench:
    """A named circuit study.

    Parameters
    ----------
    name
        CLI name (letters, digits, '-' and '_').
    doc
        One-line description.
    run
        Callable taking keyword parameter overrides and returning named measurements.
    defaults
        Parameter name → default value (what ``--set NAME=VALUE`` may change).
    """

    name: str
    doc: str
    run: Callable[..., Mapping[str, Any]]
    defaults: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name.replace("-", "_"), "testbench")


_testbenches: dict[str, Testbench] = {}


def register_testbench(testbench: Testbench) -> Testbench:
    """Add ``testbench`` to the registry (its name must be new)."""
    if testbench.name in _testbenches and _testbenches[testbench.name] is not testbench:
        raise ValueError(f"testbench {testbench.name!r} is already registered.")
    _testbenches[testbench.name] = testbench
    return testbench


def _load_library() -> None:
    for module in LIBRARY:
        import_module(f"{__package__}.{module}")


def get_testbench(name: str) -> Testbench:
    """The testbench called ``name``; the error lists the known names."""
    _load_library()
    if name not in _testbenches:
        raise KeyError(f"unknown testbench {name!r}; known: {', '.join(sorted(_testbenches)) or '(none)'}.")
    return _testbenches[name]


def testbench_names() -> Mapping[str, str]:
    """Testbench name → one-line description."""
    _load_library()
    return MappingProxyType({name: tb.doc for name, tb in sorted(_testbenches.items())})
