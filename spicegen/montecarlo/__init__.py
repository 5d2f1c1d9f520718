"""The Monte Carlo engine: seeded, parallel, resumable circuit studies in ngspice.

>>> from spicegen.montecarlo import run_study, load_dataset   # doctest: +SKIP
>>> from testbenches import get_testbench                      # doctest: +SKIP
>>> run_study(get_testbench("mc-demo"), "out/demo", n=200, seed=1, workers=2)  # doctest: +SKIP
>>> load_dataset("out/demo")                                   # doctest: +SKIP

Modules: :mod:`.sampling` (seeds and variation kinds), :mod:`.plan` (study definition),
:mod:`.worker` (one libngspice per process), :mod:`.store` (SQLite study folder),
:mod:`.study` (executors and resume), :mod:`.results` (xarray / pandas), :mod:`.report`.
"""
from .plan import Plan, make_plan
from .results import load_dataframe, load_dataset, simulated
from .sampling import KINDS, Sampler, sample_rng
from .store import Record, Store, StudyDamaged, StudyInUse, StudyMismatch
from .study import Summary, run_study
from .worker import Session, simulate

__all__ = ["KINDS", "Plan", "Record", "Sampler", "Session", "Store", "StudyDamaged", "StudyInUse", "StudyMismatch",
           "Summary", "load_dataframe", "load_dataset", "make_plan", "run_study", "sample_rng", "simulate",
           "simulated"]
