"""Study testbenches: Python procedures run through the Monte Carlo engine (being replaced by studies)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from spicegen.measure import Final
from spicegen.params import Param
from spicegen.testbench import Circuit, Testbench, register_testbench

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
