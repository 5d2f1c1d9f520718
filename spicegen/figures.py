"""Figures: every study and report draws through :func:`pyplot` and writes through :func:`save_figure`.

Axis labels follow one rule: a quantity's name, then its unit in parentheses, ``"I_read (µA)"``;
a dimensionless quantity says so, ``"pulses (dimensionless)"`` (or names what it counts, e.g.
``"samples (count)"``). :func:`axis_label` writes such labels, choosing an engineering prefix for
SI units from the plotted values, :func:`label_problems` finds labels that break the rule and
``save_figure(..., check_labels=True)`` refuses to write such a figure.

>>> axis_label("I_read", "A", [2e-6, 9e-6])
('I_read (µA)', 1000000.0)
>>> axis_label("w_final", "")
('w_final (dimensionless)', 1.0)
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np

DIMENSIONLESS = "dimensionless"
"""The parenthesised word of a label whose quantity has no unit."""
UNDECLARED = "unit not declared"
"""The parenthesised words of a label whose quantity's unit nobody declared."""
SI_UNITS = frozenset({"A", "V", "s", "J", "W", "Hz", "Ω", "F", "m", "S", "C", "T", "H", "Wb", "eV"})
"""Units that take an engineering prefix (``µA``, ``ns``); any other unit text is printed as given."""
_PREFIXES = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}
_UNIT_AT_END = re.compile(r"\(([^()]+)\)\s*$")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend: studies write PNGs and never open a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def engineering_unit(unit: str, values: Iterable[float] | None = None) -> tuple[str, float]:
    """``(prefixed unit, factor)`` to plot ``values`` of ``unit`` in: values × factor lie in [1, 1000).

    Units outside :data:`SI_UNITS` (``"%"``, ``"V/s"``, words) and values without a finite non-zero
    magnitude keep the unit as given and a factor of 1.

    >>> engineering_unit("s", [3e-9, 8e-9])
    ('ns', 1000000000.0)
    >>> engineering_unit("%", [12.0])
    ('%', 1.0)
    """
    if unit not in SI_UNITS or values is None:
        return unit, 1.0
    magnitude = np.abs(np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float))
    magnitude = magnitude[np.isfinite(magnitude) & (magnitude > 0)]
    if not magnitude.size:
        return unit, 1.0
    exponent = int(math.floor(math.log10(float(np.max(magnitude))) / 3) * 3)
    exponent = min(max(exponent, min(_PREFIXES)), max(_PREFIXES))
    return _PREFIXES[exponent] + unit, 10.0 ** -exponent


def axis_label(name: str, unit: str | None, values: Iterable[float] | None = None) -> tuple[str, float]:
    """``(label, factor)``: ``"name (prefixed unit)"`` and the factor to multiply the plotted values by.

    Parameters
    ----------
    name
        What is plotted, in words or as a measurement name (``"w_final"``).
    unit
        Its unit: SI text (``"A"``), other text (``"%"``, ``"normalised state"``), ``""`` for a
        dimensionless quantity, or ``None`` when nobody declared it (the label then says so).
    values
        The values to plot, to choose an engineering prefix (see :func:`engineering_unit`).
    """
    if unit is None:
        return f"{name} ({UNDECLARED})", 1.0
    if not unit:
        return f"{name} ({DIMENSIONLESS})", 1.0
    shown, factor = engineering_unit(unit, values)
    return f"{name} ({shown})", factor


def label_problems(fig: Any, *, declared: bool = False) -> list[str]:
    """Axis labels of ``fig`` that break the labelling rule (module docstring), one line each.

    Every drawn axes needs an x and a y label that ends with a parenthesised unit; an axes that
    shares its x (y) axis with one that is labelled may leave its own x (y) label empty (the panels
    of a column above the bottom one). With ``declared``, a label that says its unit was not
    declared (:data:`UNDECLARED`) is a problem too.
    """
    problems = []
    for number, ax in enumerate(fig.axes):
        if not ax.axison:
            continue
        title = ax.get_title() or f"axes {number}"
        for which, shared in (("x", ax.get_shared_x_axes()), ("y", ax.get_shared_y_axes())):
            text = _label(ax, which)
            if not text and any(_label(a, which) for a in shared.get_siblings(ax) if a is not ax):
                continue
            found = _UNIT_AT_END.search(text)
            if not found:
                problems.append(f"{title!r}: {which} label {text!r} has no unit in parentheses")
            elif declared and found.group(1).strip() == UNDECLARED:
                problems.append(f"{title!r}: {which} label {text!r} has no declared unit")
    return problems


def _label(ax: Any, which: str) -> str:
    return (ax.xaxis if which == "x" else ax.yaxis).get_label_text()


def save_figure(fig: Any, path: str | Path, dpi: int | None = None, *, check_labels: bool = False) -> Path:
    """Lay out ``fig``, write it to ``path`` atomically (:func:`spicegen.files.write_stream`: folders created,
    mode from the umask), close it and return ``path``.

    Parameters
    ----------
    fig
        A matplotlib figure.
    path
        Output file; its suffix picks the format (PNG without one).
    dpi
        Resolution (matplotlib's default when None).
    check_labels
        Refuse a figure whose axis labels lack units (:func:`label_problems`; a label that says its
        unit was not declared passes).

    Raises
    ------
    ValueError
        With ``check_labels``, naming every offending label; nothing is written.
    """
    from .files import write_stream

    plt = pyplot()
    if check_labels:
        problems = label_problems(fig)
        if problems:
            plt.close(fig)
            raise ValueError(f"figure {str(path)!r} has axis labels without units: {'; '.join(problems)}. "
                             "Label each axis 'name (unit)', or 'name (dimensionless)' (spicegen.figures.axis_label).")
    if fig.get_layout_engine() is None:  # a figure made with layout="constrained" keeps its own
        fig.tight_layout()
    try:
        return write_stream(path, lambda handle: fig.savefig(handle, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
