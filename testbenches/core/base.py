"""The built-in testbench library.

The :class:`~spicegen.testbench.Testbench` type and its registry live in
:mod:`spicegen.testbench` (the Monte Carlo workers look testbenches up there); this module
lists the modules that register the built-in ones and loads them before a lookup.

To add a testbench: write ``testbenches/<name>.py`` that calls
:func:`~spicegen.testbench.register_testbench`, and add the module name to :data:`LIBRARY`.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from spicegen import get_device
from spicegen import testbench as _registry
from spicegen.measure import Final
from spicegen.params import Param
from spicegen.testbench import Circuit, Testbench, register_testbench

#: Modules that register the built-in testbenches on import.
LIBRARY: tuple[str, ...] = ("core.mc_demo", "mdwmtj.device", "mdwmtj.mac", "reram.studies", "reram.program",
                            "reram.pulse", "reram.crossbar")


def _load_library() -> None:
    for module in LIBRARY:
        import_module(f"testbenches.{module}")


def get_testbench(name: str) -> Testbench:
    """The testbench called ``name`` (built-in or registered); the error lists the known names."""
    _load_library()
    return _registry.get_testbench(name)


def testbench_names() -> Mapping[str, str]:
    """Testbench name → one-line description, built-in ones included."""
    _load_library()
    return _registry.testbench_names()


def place_device(circuit: Circuit, device: str, name: str, nodes: tuple[str, ...], flavor: str,
                 **kwargs: Any) -> None:
    """Place the registered ``device`` in ``circuit`` as its ngspice twin (``flavor="twin"``) or as
    OSDI (``"osdi"``, compiled on first use; ``veriloga`` sits above ``spicegen``, so the circuit
    cannot compile it itself). ``kwargs`` go to :meth:`~spicegen.testbench.Circuit.device`."""
    model = get_device(device)
    osdi = None
    if flavor == "osdi":
        from veriloga import compile_model

        osdi = str(compile_model(model))
    circuit.device(model, name, nodes, flavor=flavor, osdi=osdi, **kwargs)  # type: ignore[arg-type]


def save_figure(fig: Any, path: Path, dpi: int | None = None) -> Path:
    """Lay out ``fig``, write it to ``path`` (folders created), close it and return ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def placeholder_circuit(title: str, params: Sequence[Param]) -> Circuit:
    """A one-resistor ``.op`` circuit carrying a study's size as testbench parameters: studies whose
    procedure runs in Python (pulse maps, closed loops, the crossbar solver) read them from the session."""
    c = Circuit(title)
    for param in params:
        c.param(param)
    c.element("Vp p 0 0")
    c.element("Rp p 0 1k")
    c.analysis(".op")
    return c


@dataclass(frozen=True)
class StudyCircuit:
    """``build`` of a study testbench: the :func:`placeholder_circuit` carrying the study's size."""

    title: str
    params: tuple[Param, ...]

    def __call__(self, options: Mapping[str, object]) -> Circuit:
        return placeholder_circuit(self.title, self.params)


@dataclass(frozen=True)
class StudyProcedure:
    """Procedure of a study testbench: ``run(values)`` maps the study parameters of the sample to one
    number per measurement (``run`` must be a module-level function: workers unpickle it by name)."""

    run: Callable[[Mapping[str, float]], Mapping[str, float]]

    def __call__(self, session: Any) -> dict[str, np.ndarray]:
        return {name: np.array([float(value)]) for name, value in self.run(session.values).items()}


def register_study(name: str, doc: str, title: str, params: Sequence[Param],
                   run: Callable[[Mapping[str, float]], Mapping[str, float]],
                   measurements: Sequence[str]) -> Testbench:
    """Register a testbench whose sample is a study run in Python (``spicegen sim NAME --set P=V``):
    ``params`` are its size and settings, ``run(values)`` returns the named ``measurements``."""
    return register_testbench(Testbench(name=name, doc=doc, build=StudyCircuit(title, tuple(params)),
                                        measurements={m: Final(m) for m in measurements},
                                        procedure=StudyProcedure(run)))
