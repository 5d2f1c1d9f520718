"""Numbers typed by a user, read strictly, and user text echoed back in messages, kept short.

Python's ``float()`` and ``int()`` accept more than a user means by a number: ``"1_0"`` (ten),
Arabic-Indic or other Unicode digits (``"١"`` is one), ``"infinity"``. Every number spicegen reads
from the command line or a study's settings goes through :func:`parse_float` or :func:`parse_int`,
which accept ASCII decimal notation only and say what they expected.

>>> parse_float("2.5e-3", "--set vx")
0.0025
>>> parse_float("1_0", "--set vx")
Traceback (most recent call last):
...
ValueError: --set vx needs a number, got '1_0'; write digits 0-9 with an optional sign, point and exponent (e.g. 2.5e-3).
"""
from __future__ import annotations

import re

_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
ECHO_LIMIT = 80
"""Characters of a user's value repeated in a message; longer values are cut (:func:`shorten`)."""


def shorten(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length noted.

    >>> shorten("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (1002 characters)"
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_float(text: str, what: str) -> float:
    """``text`` as a float if it is an ASCII decimal number (``1``, ``-0.5``, ``2.5e-3``), else raise.

    Raises
    ------
    ValueError
        Naming ``what``, the accepted notation and the value (shortened).
    """
    if not isinstance(text, str) or not _FLOAT.fullmatch(text.strip()):
        raise ValueError(f"{what} needs a number, got {shorten(text)}; write digits 0-9 with an optional sign, "
                         "point and exponent (e.g. 2.5e-3).")
    return float(text)


def parse_int(text: str, what: str, minimum: int | None = None) -> int:
    """``text`` as an int if it is ASCII digits with an optional sign and at least ``minimum``, else raise.

    >>> parse_int("16", "--points", minimum=1)
    16

    Raises
    ------
    ValueError
        Naming ``what``, what it needs and the value (shortened).
    """
    need = "a whole number" if minimum is None else f"a whole number >= {minimum}"
    if not isinstance(text, str) or not _INTEGER.fullmatch(text.strip()):
        raise ValueError(f"{what} needs {need}, got {shorten(text)}; write digits 0-9 with an optional sign.")
    number = int(text)
    if minimum is not None and number < minimum:
        raise ValueError(f"{what} needs {need}, got {number}.")
    return number
