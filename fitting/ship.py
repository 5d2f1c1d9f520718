"""Regenerate every shipped extraction: ``python -m fitting.ship [--only TOPIC ...] [--resimulate]``.

Each topic writes its surrogate / parameter JSON, a short ``report.md`` and its figures into
``fitting/extractions/<topic>/``:

==========  =================================================================  ========================
topic       what                                                               source
==========  =================================================================  ========================
p2m         f1 (per weight configuration) and f2 of the P²M MAC                 ``fitting.mdwmtj.f1f2`` on the
                                                                               ngspice MC studies
dw          DW velocity v(I), 2nd-order polynomial                              ``fitting.mdwmtj.dw_velocity``
lif         LIF firing rate f(I, V_thr, V_pw)                                   ``fitting.lif.rate``
reram_ttt   trap-to-trap tunnelling N, ΔE, a of ``reram_cmo`` from I–V          ``fitting.reram.ttt``
reram       ReRAM σ_prog(G) and relaxation μ(t), σ(t)                          ``fitting.reram.stats.ship``
==========  =================================================================  ========================

A topic that fails is reported and the others still run; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

class Skipped(Exception):
    """A topic cannot run here (its input data is missing); the message says why."""


def _p2m(out: Path, studies: Path, resimulate: bool) -> list[Path]:
    from fitting.mdwmtj.f1f2 import run

    summary = run(studies, out)
    if not summary["f1"] and summary["f2"] is None:
        raise Skipped(f"no P²M Monte Carlo study under {studies} (run python -m testbenches.mdwmtj.studies)")
    return sorted(out.glob("*"))


def _dw(out: Path, studies: Path, resimulate: bool) -> list[Path]:
    from fitting.mdwmtj.dw_velocity import ship

    return ship(out)


def _lif(out: Path, studies: Path, resimulate: bool) -> list[Path]:
    from fitting.lif.rate import ship

    return ship(out, resimulate)


def _reram_ttt(out: Path, studies: Path, resimulate: bool) -> list[Path]:
    from fitting.reram.ttt import ship

    return ship(out)


def _reram(out: Path, studies: Path, resimulate: bool) -> list[Path]:
    from fitting.reram.stats import ship

    return list(ship(out))


RUNNERS: dict[str, Callable[[Path, Path, bool], list[Path]]] = {
    "p2m": _p2m, "dw": _dw, "lif": _lif, "reram_ttt": _reram_ttt, "reram": _reram}
"""Topic → function(out_dir, studies, resimulate) returning the files it wrote."""
TOPICS = tuple(RUNNERS)
"""Topics in the order they run."""


def ship(root: Path = Path("fitting/extractions"), only: tuple[str, ...] = TOPICS,
         studies: Path = Path("results/p2m_mc"), resimulate: bool = False,
         report: Callable[[str], None] = print) -> dict[str, str]:
    """Regenerate the topics ``only`` under ``root``; returns topic → ``"ok"``, ``"skipped: …"`` or ``"failed: …"``.

    Raises
    ------
    ValueError
        For an unknown topic.
    """
    unknown = sorted(set(only) - set(TOPICS))
    if unknown:
        raise ValueError(f"unknown topic(s) {unknown}; choose from {TOPICS}.")
    status = {}
    for topic in (t for t in TOPICS if t in only):
        start = time.perf_counter()
        try:
            files = RUNNERS[topic](root / topic, studies, resimulate)
        except Skipped as exc:
            status[topic] = f"skipped: {exc}"
        except Exception as exc:  # one topic failing must not stop the others; reported and counted
            status[topic] = f"failed: {type(exc).__name__}: {exc}"
        else:
            status[topic] = "ok"
            report(f"{topic}: {len(files)} files in {root / topic} ({time.perf_counter() - start:.0f} s)")
            continue
        report(f"{topic}: {status[topic]}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=TOPICS, default=list(TOPICS), help="topics to regenerate")
    parser.add_argument("--root", default="fitting/extractions", help="output root (one folder per topic)")
    parser.add_argument("--studies", default="results/p2m_mc", help="folder of the P²M Monte Carlo studies")
    parser.add_argument("--resimulate", action="store_true", help="rerun cached simulations (LIF grid)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    status = ship(Path(args.root), tuple(args.only), Path(args.studies), args.resimulate)
    print(f"done in {time.perf_counter() - start:.0f} s: " + ", ".join(f"{k} {v.split(':')[0]}" for k, v in status.items()))
    return 1 if any(v.startswith("failed") for v in status.values()) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
