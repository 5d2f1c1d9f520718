"""Surrogates that cite the study run they were extracted from."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from spicegen.study import StudyRun

if TYPE_CHECKING:
    from fitting.extract import Extraction as Fitted
    from fitting.surrogate import Surrogate


def brief_citation(run: StudyRun) -> dict[str, Any]:
    """What a table (summary, calibration source) records of ``run``: the citation without the device
    variations (the surrogates carry the full one)."""
    citation = run.citation()
    definition = citation.pop("definition")
    return {**citation, **{k: definition[k] for k in ("options", "seed", "n")}}


def cite(fitted: Fitted, run: StudyRun) -> Fitted:
    """``fitted`` with its surrogate (and its variation) citing ``run`` (:meth:`StudyRun.citation`)."""
    return replace(fitted, surrogate=_cited(fitted.surrogate, run.citation()))


def _cited(surrogate: Surrogate, citation: dict[str, Any]) -> Surrogate:
    variation = _cited(surrogate.variation, citation) if surrogate.variation is not None else None
    return replace(surrogate, provenance=replace(surrogate.provenance, study=citation), variation=variation)
