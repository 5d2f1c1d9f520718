"""Domain-wall velocity vs write current from the 1D collective-coordinate (q, φ) model.

The P²M paper [Kaiser et al. 2024, §2] fits a 2nd-order polynomial to DW velocity vs write current obtained
from MuMax3 micromagnetics (RMSE 1.06 %). MuMax3 does not run here, so the reference is the
1D model of a Dzyaloshinskii (Néel) wall driven by the damping-like spin-orbit (spin-Hall) torque,
the model that Martinez et al. [M14] benchmarked against full micromagnetics for this situation
and that Thiaville et al. [T12] introduced for DMI walls. It is integrated numerically in time,
so the reference never comes from the polynomial.

Equations (SI; γ0 = μ0·γ; Q = +1 up/down wall; no applied field) [M14 Eqs. (2)–(3), T12]::

    (1 + α²) dq/dt = Δ (Q·Ω_A + α·Ω_B)
    (1 + α²) dφ/dt = −α·Ω_A + Q·Ω_B
    Ω_A = −(γ0/2)·H_K·sin 2φ + (π/2)·γ0·Q·H_D·sin φ
    Ω_B = γ0·Q·H_pin(q) + (π/2)·γ0·Q·H_SH·cos φ

    H_D   = D / (μ0 Ms Δ)                         DMI field
    H_K   = Ms t_FM ln2 / (π Δ)                   wall shape anisotropy (Bloch vs Néel) [Tarasenko 1998]
    H_SH  = ħ θ_SH J / (2 e μ0 Ms t_FM)           damping-like SOT (spin Hall) field
    J     = I / (w t_HM)                          current density in the heavy metal
    H_pin = −H_p sin(2π q / p)                    periodic pinning, from V_pin = V0 sin²(π q/p) [MA14]

Physics checked by ``tests/mdwmtj/test_mdwmtj_velocity.py``: (i) the wall stays pinned below the depinning
current ``I_c`` (static solution exists iff (π/2)·H_SH ≤ H_p for a Néel wall, i.e.
``J_c = (2/π) H_p · 2 e μ0 Ms t_FM / (ħ θ_SH)``); (ii) velocity rises monotonically with current;
(iii) without pinning there is no Walker breakdown: the velocity saturates at the DMI-limited
``v_D = (π/2) γ0 Δ H_D = (π/2) γ D / Ms`` [T12], following ``v_D·x/√(1+x²)`` with
``x = H_SH/(α H_D)`` when H_K → 0.

References
----------
[M14] E. Martinez, S. Emori, N. Perez, L. Torres, G. S. D. Beach, "Current-driven dynamics of
      Dzyaloshinskii domain walls in the presence of in-plane fields: full micromagnetic and
      one-dimensional analysis", J. Appl. Phys. 115, 213909 (2014) — cited by the paper.
[T12] A. Thiaville, S. Rohart, É. Jué, V. Cros, A. Fert, "Dynamics of Dzyaloshinskii domain walls
      in ultrathin magnetic films", EPL 100, 57002 (2012).
[E13] S. Emori, U. Bauer, S.-M. Ahn, E. Martinez, G. S. D. Beach, "Current-driven dynamics of
      chiral ferromagnetic domain walls", Nat. Mater. 12, 611 (2013) — the Pt/CoFe/MgO stack.
[MA14] E. Martinez, Ó. Alejos, "Coupled Dzyaloshinskii walls and their current-induced dynamics
      by the spin Hall effect", J. Appl. Phys. 116, 023909 (2014) — pinning potential form.
See docs/mdwmtj.md for every number, its source, and which ones are our own defaults.

``spicegen study run dw-velocity --out DIR`` runs the reference sweep and the fit (:class:`DwVelocity`;
``--set ship=yes`` also writes the coefficients into the device's calibration file);
``spicegen extract dw-velocity --from DIR --out OUT`` turns that run into the shipped surrogate
(:class:`DwVelocityExtraction`, ``fitting/extractions/dw``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.integrate import solve_ivp

from spicegen import calibration
from spicegen.calibration import significant
from spicegen.figures import pyplot, save_figure
from spicegen.files import write_bytes, write_json, write_text
from spicegen.study import (Extraction, Measure, Setting, Study, StudyContext, StudyResult, StudyRun,
                            register_extraction, register_study)


if TYPE_CHECKING:
    from fitting.extract import Extraction as Fitted

MU0 = 4e-7 * math.pi
"""Vacuum permeability (H/m; the pre-2019 exact value, differing from CODATA 2018 by 1e-10)."""
GAMMA = 1.76085963e11
"""Electron gyromagnetic ratio γ (rad/(s·T)), CODATA 2018."""
HBAR = 1.054571817e-34
"""Reduced Planck constant (J·s), CODATA 2018 exact."""
ECHARGE = 1.602176634e-19
"""Elementary charge (C), CODATA 2018 exact."""
GAMMA0 = MU0 * GAMMA
"""γ0 = μ0 γ (m/(A·s)), the gyromagnetic factor multiplying fields in A/m."""


@dataclass(frozen=True)
class DWStack:
    """Material and geometry of the heavy-metal / ferromagnet / oxide free layer.

    Defaults: the Pt(3 nm)/CoFe(0.6 nm)/MgO stack of Emori et al. [E13] as modelled by
    Martinez et al. [M14] (the 1D/micromagnetic study the P²M paper cites), with the track
    width and pinning chosen by us for the P²M device (docs/mdwmtj.md lists which is which).
    """

    ms: float = 7.0e5
    """Saturation magnetisation M_s (A/m) [E13, M14]."""
    alpha: float = 0.3
    """Gilbert damping α [E13, M14]."""
    delta: float = 6.0e-9
    """Domain-wall width parameter Δ (m) [E13]; the wall is about π·Δ wide."""
    dmi: float = 1.2e-3
    """Interfacial DMI constant |D| (J/m²) [M14] (sign absorbed: the wall is Néel of the chirality that
    moves along the current)."""
    theta_sh: float = 0.07
    """Effective spin Hall angle θ_SH of Pt [E13]; Liu et al. PRL 106, 036601 (2011) give 0.076."""
    t_fm: float = 0.6e-9
    """Ferromagnet (free layer) thickness t_FL (m) [E13]."""
    t_hm: float = 3.0e-9
    """Heavy-metal thickness t_HM (m) [E13]."""
    width: float = 60e-9
    """Track width w (m): our default for a P²M-scale device (not in the paper)."""
    h_pin: float = 1.2e4
    """Amplitude H_p of the periodic pinning field (A/m, ≈151 Oe): our default, sets the depinning current."""
    pin_period: float = 20e-9
    """Period p of the pinning potential (m): our default (a grain-size scale, cf. [MA14])."""

    @property
    def h_dmi(self) -> float:
        """DMI field H_D = D/(μ0 Ms Δ) (A/m)."""
        return self.dmi / (MU0 * self.ms * self.delta)

    @property
    def h_k(self) -> float:
        """Wall shape-anisotropy field H_K = Ms t ln2/(π Δ) (A/m), favouring Bloch walls."""
        return self.ms * self.t_fm * math.log(2.0) / (math.pi * self.delta)

    @property
    def area(self) -> float:
        """Heavy-metal cross-section w·t_HM (m²) carrying the write current."""
        return self.width * self.t_hm

    def h_sh(self, current: np.ndarray | float) -> np.ndarray:
        """Damping-like spin-Hall field (A/m) for a write current (A) in the heavy metal."""
        j = np.asarray(current, dtype=float) / self.area
        return HBAR * self.theta_sh * j / (2.0 * ECHARGE * MU0 * self.ms * self.t_fm)

    @property
    def v_dmi(self) -> float:
        """Walker-free saturation velocity v_D = (π/2) γ0 Δ H_D = (π/2) γ D / Ms (m/s) [T12]."""
        return 0.5 * math.pi * GAMMA0 * self.delta * self.h_dmi

    @property
    def depinning_current(self) -> float:
        """Current (A) above which no static solution exists: (π/2)·H_SH = H_p (Néel wall, φ = 0)."""
        if 0.5 * math.pi * self.h_dmi <= self.h_k:
            raise ValueError("the wall is not Néel at rest ((π/2)·H_D <= H_K); the closed form does not apply.")
        h_sh_per_amp = float(self.h_sh(1.0))
        return (2.0 / math.pi) * self.h_pin / h_sh_per_amp


def rates(stack: DWStack, q: np.ndarray, phi: np.ndarray, h_sh: np.ndarray, q_sign: float = 1.0):
    """dq/dt (m/s) and dφ/dt (rad/s) of the 1D model (vectorised over currents)."""
    a = stack.alpha
    h_pin = -stack.h_pin * np.sin(2.0 * np.pi * q / stack.pin_period) if stack.h_pin else 0.0
    omega_a = -0.5 * GAMMA0 * stack.h_k * np.sin(2.0 * phi) + 0.5 * np.pi * GAMMA0 * q_sign * stack.h_dmi * np.sin(phi)
    omega_b = GAMMA0 * q_sign * h_pin + 0.5 * np.pi * GAMMA0 * q_sign * h_sh * np.cos(phi)
    dq = stack.delta / (1.0 + a * a) * (q_sign * omega_a + a * omega_b)
    dphi = (-a * omega_a + q_sign * omega_b) / (1.0 + a * a)
    return dq, dphi


def integrate(stack: DWStack, currents: np.ndarray, t_end: float, *, rtol: float = 1e-6):
    """Integrate the 1D model from rest (q = 0, φ = 0) at constant currents; returns the dense solution.

    State vector: ``[q_0 … q_{n-1}, φ_0 … φ_{n-1}]``, one (q, φ) pair per current.
    """
    currents = np.atleast_1d(np.asarray(currents, dtype=float))
    n = currents.size
    h_sh = stack.h_sh(currents)

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        dq, dphi = rates(stack, y[:n], y[n:], h_sh)
        return np.concatenate([dq, dphi])

    atol = np.concatenate([np.full(n, 1e-6 * stack.pin_period), np.full(n, 1e-8)])
    sol = solve_ivp(rhs, (0.0, t_end), np.zeros(2 * n), method="RK45", rtol=rtol, atol=atol, dense_output=True)
    if not sol.success:  # pragma: no cover - RK45 on a smooth bounded system
        raise RuntimeError(f"1D domain-wall integration failed: {sol.message}")
    return sol


def steady_velocity(stack: DWStack, currents: np.ndarray, *, t_end: float = 60e-9,
                    points: int = 30001) -> np.ndarray:
    """Time-averaged wall velocity (m/s) at each constant write current (A), signed like the current.

    The wall starts at rest in a pinning minimum. After a quarter of ``t_end`` (transient), the
    average velocity is measured between the first and last crossing of a pinning-period boundary
    (exact for the periodic steady state); without pinning, as displacement over time. A wall that
    crosses fewer than two boundaries in the window counts as pinned (velocity 0; the resolution is
    about ``2·p/t_end``).
    """
    currents = np.atleast_1d(np.asarray(currents, dtype=float))
    sign = np.sign(currents)
    mag = np.abs(currents)
    sol = integrate(stack, mag, t_end)
    t = np.linspace(0.25 * t_end, t_end, points)
    q = sol.sol(t)[: mag.size]
    out = np.zeros(mag.size)
    for i, qi in enumerate(q):
        if not stack.h_pin:
            out[i] = (qi[-1] - qi[0]) / (t[-1] - t[0])
            continue
        cell = np.floor(qi / stack.pin_period)
        steps = np.nonzero(np.diff(cell) > 0)[0]
        if steps.size < 2:
            continue
        # linear interpolation of the crossing instants of q = k·p
        k = cell[steps + 1] * stack.pin_period
        frac = (k - qi[steps]) / (qi[steps + 1] - qi[steps])
        times = t[steps] + frac * (t[steps + 1] - t[steps])
        out[i] = (k[-1] - k[0]) / (times[-1] - times[0])
    return sign * out


def displacement(stack: DWStack, current: float, duration: float, *, settle: float = 2e-9) -> float:
    """Net wall displacement (m) for one rectangular current pulse, including the relaxation after it."""
    sign = math.copysign(1.0, current) if current else 0.0
    h_on = stack.h_sh(abs(current))

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        dq, dphi = rates(stack, y[:1], y[1:], h_on if t <= duration else 0.0 * h_on)
        return np.concatenate([dq, dphi])

    atol = [1e-6 * stack.pin_period, 1e-8]
    sol1 = solve_ivp(rhs, (0.0, duration), np.zeros(2), method="RK45", rtol=1e-7, atol=atol)
    sol2 = solve_ivp(lambda t, y: rhs(duration + t + 1e-30, y), (0.0, settle), sol1.y[:, -1], method="RK45",
                     rtol=1e-7, atol=atol)
    return sign * float(sol2.y[0, -1])


# ----------------------------------------------------------------------------- polynomial fit

FIT_RANGE = (1.5, 8.0)
"""Default operating range of the fit, in units of the depinning current."""
ONSET = 0.1
"""Relative width of the compact model's onset ramp above the threshold (its ``dith``)."""
PAPER_REL_RMSE = 1.06
"""RMSE (%) of the paper's 2nd-order velocity fit against MuMax3 (Kaiser et al. §2, Fig. 1b; metric not stated)."""

@dataclass(frozen=True)
class VelocityFit:
    """The 2nd-order polynomial v(I) = c0 + c1·I + c2·I² fitted to the 1D-model reference."""

    c0: float
    """m/s"""
    c1: float
    """m/(s·A)"""
    c2: float
    """m/(s·A²)"""
    ith: float
    """Depinning (threshold) current of the 1D model (A): v = 0 below it."""
    current_range: tuple[float, float]
    """Operating range used for the fit (A)."""
    rel_rmse: float
    """sqrt(mean(((fit − ref)/ref)²)) over the fit points."""
    nrmse: float
    """RMSE / max(ref) over the fit points."""
    max_rel_error: float
    """max |fit − ref| / ref over the fit points."""
    currents: list[float] = field(repr=False)
    velocities: list[float] = field(repr=False)
    stack: dict = field(repr=False, default_factory=dict)

    def __call__(self, current: np.ndarray | float, dith: float = ONSET) -> np.ndarray:
        """The compact-model law of spicegen/devices/mdwmtj.py: sign(I)·max(poly(min(|I|, I_hi)), 0)
        times the onset ramp clip((|I| − ith)/(dith·ith), 0, 1)."""
        i = np.abs(np.asarray(current, dtype=float))
        f = np.minimum(i, self.current_range[1])
        v = np.maximum(self.c0 + self.c1 * f + self.c2 * f * f, 0.0)
        return np.sign(current) * v * np.clip((i - self.ith) / (dith * self.ith), 0.0, 1.0)


def polynomial(current: np.ndarray, c0: float, c1: float, c2: float) -> np.ndarray:
    """v = c0 + c1·I + c2·I² (the lmfit model function; its signature is the parameter schema)."""
    return c0 + c1 * current + c2 * current * current


def fit_velocity(stack: DWStack = DWStack(), current_range: tuple[float, float] | None = None,
                 points: int = 41) -> VelocityFit:
    """Fit the 2nd-order polynomial with lmfit to the 1D-model velocity over the operating range.

    Parameters
    ----------
    stack
        Material and geometry.
    current_range
        (I_lo, I_hi) in A; default (1.5·I_c, 8·I_c) with I_c the depinning current: the
        accumulator write currents of the P²M testbench. Just above I_c the average velocity
        rises like √(I − I_c) (saddle-node depinning), which no quadratic follows; the compact
        model leaves that band to its threshold cut-off (docs/mdwmtj.md quantifies the step).
    points
        Number of reference currents, evenly spaced.
    """
    from lmfit import Model

    ic = stack.depinning_current
    lo, hi = current_range or (FIT_RANGE[0] * ic, FIT_RANGE[1] * ic)
    currents = np.linspace(lo, hi, points)
    v = steady_velocity(stack, currents)
    model = Model(polynomial)
    params = model.make_params(c0=0.0, c1=float(v[-1] / hi), c2=0.0)
    result = model.fit(v, params, current=currents / hi)  # scaled current: well-conditioned
    c0 = result.params["c0"].value
    c1 = result.params["c1"].value / hi
    c2 = result.params["c2"].value / hi ** 2
    fitted = polynomial(currents, c0, c1, c2)
    err = fitted - v
    return VelocityFit(
        c0=float(c0), c1=float(c1), c2=float(c2), ith=float(ic), current_range=(float(lo), float(hi)),
        rel_rmse=float(np.sqrt(np.mean((err / v) ** 2))),
        nrmse=float(np.sqrt(np.mean(err ** 2)) / np.max(np.abs(v))),
        max_rel_error=float(np.max(np.abs(err / v))),
        currents=currents.tolist(), velocities=v.tolist(), stack=asdict(stack),
    )


def write_report(out: Path, fit: VelocityFit) -> dict:
    """Write ``dw_velocity.json`` (the fit and its reference sweep) and ``dw_velocity.png`` into ``out``;
    return the JSON's content."""
    stack = DWStack(**fit.stack)
    summary = {
        "c0_m_per_s": fit.c0, "c1_m_per_sA": fit.c1, "c2_m_per_sA2": fit.c2, "ith_A": fit.ith,
        "fit_range_A": fit.current_range, "rel_rmse": fit.rel_rmse, "nrmse": fit.nrmse,
        "max_rel_error": fit.max_rel_error, "v_dmi_m_per_s": stack.v_dmi, "h_dmi_A_per_m": stack.h_dmi,
        "h_k_A_per_m": stack.h_k, "stack": asdict(stack),
        "reference": {"current_A": fit.currents, "velocity_m_per_s": fit.velocities},
    }
    write_json(out / "dw_velocity.json", summary)
    plot_velocity(out / "dw_velocity.png", stack, fit)
    return summary


def plot_velocity(path: Path, stack: DWStack, fit: VelocityFit) -> Path:
    """Left: the 1D model over 0–1.2 × the fit range, the fit points and the compact law; right: the
    saturation without pinning against the closed form."""
    plt = pyplot()
    ic = fit.ith
    wide = np.linspace(0.0, 1.2 * fit.current_range[1], 61)
    v_wide = steady_velocity(stack, wide)
    free = replace(stack, h_pin=0.0)
    big = np.linspace(0.0, 60 * ic, 41)
    v_free = steady_velocity(free, big, t_end=20e-9)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    ax.plot(wide * 1e6, v_wide, "o", ms=3, color="0.5", label="1D model (q, φ), pinned")
    ax.plot(np.asarray(fit.currents) * 1e6, fit.velocities, "o", ms=4, label="fit points")
    ax.plot(wide * 1e6, fit(wide), "-", label=f"compact law: 2nd-order fit (rel. RMSE {fit.rel_rmse:.2%};\n"
            f"paper vs MuMax3: {PAPER_REL_RMSE:g} %), onset ramp at $I_c$,\nheld above the fit range")
    ax.axvline(ic * 1e6, ls=":", color="k", label=f"depinning $I_c$ = {ic * 1e6:.1f} µA")
    ax.set_xlabel("write current I (µA)")
    ax.set_ylabel("DW velocity (m/s)")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[1]
    ax.plot(big / ic, v_free, "o", ms=3, label="1D model, no pinning")
    x = free.h_sh(big) / (free.alpha * free.h_dmi)
    ax.plot(big / ic, free.v_dmi * x / np.sqrt(1 + x * x), "--", label="v_D·x/√(1+x²) (H_K = 0)")
    ax.axhline(free.v_dmi, ls=":", color="k", label=f"v_D = {free.v_dmi:.0f} m/s")
    ax.set_xlabel("write current / depinning current I/I_c")
    ax.set_ylabel("DW velocity (m/s)")
    ax.legend(fontsize=8)
    fig.suptitle("Domain-wall velocity vs write current (sim., cf. Kaiser et al. Fig. 1b)", fontsize=9)
    return save_figure(fig, path, dpi=130)


# ----------------------------------------------------------------------------- study and extraction

DIGITS = 6
"""Significant digits of the calibrated values (more would only record the integration's rounding)."""


def calibrated_values(fit: VelocityFit) -> dict[str, float]:
    """The MDWMTJ parameters a fit calibrates (``imax``: the upper end of its current range), rounded to
    :data:`DIGITS` significant digits."""
    values = {"c0": fit.c0, "c1": fit.c1, "c2": fit.c2, "ith": fit.ith, "imax": fit.current_range[1]}
    return {name: significant(value, DIGITS) for name, value in values.items()}


@register_study
class DwVelocity(Study):
    """DW velocity vs write current from the 1D (q, φ) model and its 2nd-order fit: the MDWMTJ velocity law."""

    name = "dw-velocity"
    code = (__name__,)
    family = "mdwmtj"
    options = (Setting("ship", False, "also update the package's calibration file "
                                      "(spicegen/devices/calibration/mdwmtj.json)"),)
    measures = {
        "c0": Measure("m/s", "velocity polynomial, constant term"),
        "c1": Measure("m/(s A)", "velocity polynomial, linear term"),
        "c2": Measure("m/(s A^2)", "velocity polynomial, quadratic term"),
        "ith": Measure("A", "depinning current of the 1D model (the device's threshold)"),
        "imax": Measure("A", "upper end of the fitted current range (8 I_c)"),
        "rel_rmse": Measure("%", "relative RMSE of the fit over 1.5-8 I_c (paper, vs MuMax3: 1.06 %, metric not "
                                 "stated)", spec=(None, 2.0), paper=PAPER_REL_RMSE, role="held out"),
        "nrmse": Measure("%", "RMSE / max(v) over the fit points", spec=(None, 1.0)),
        "max_rel_error": Measure("%", "largest relative error over the fit points"),
        "v_dmi": Measure("m/s", "Walker-free saturation velocity (pi/2) gamma D / Ms"),
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        fit = fit_velocity()
        summary = write_report(ctx.out, fit)
        values = calibrated_values(fit)
        source = ctx.citation()
        written = calibration.update("mdwmtj", ctx.out, values=values, source=source, ship=ctx.options["ship"])
        measurements = {**values, "rel_rmse": 100 * summary["rel_rmse"], "nrmse": 100 * summary["nrmse"],
                        "max_rel_error": 100 * summary["max_rel_error"], "v_dmi": summary["v_dmi_m_per_s"]}
        return StudyResult(measurements, {k: v for k, v in summary.items() if k != "reference"},
                           files=["dw_velocity.json", "dw_velocity.png", written[0].name])


@register_extraction
class DwVelocityExtraction(Extraction):
    """The DW velocity surrogate v(I) (I in µA, m/s) fitted to the 1D-model reference sweep."""

    name = "dw-velocity"
    source = "dw-velocity"
    statistic = "mean"
    form = "polynomial:2"
    folder = "extractions/dw"

    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        """Write ``v_dw.json`` (the surrogate, citing ``run``), ``v_dw_report.json``, ``v_dw_residuals.png``,
        ``report.md`` and the run's ``dw_velocity.json`` / ``dw_velocity.png`` (reference sweep, overview)."""
        import pandas as pd

        from fitting.extract import extract

        summary = json.loads((run.folder / "dw_velocity.json").read_text())
        reference = pd.DataFrame({"current_ua": np.asarray(summary["reference"]["current_A"]) * 1e6,
                                  "v_dw": summary["reference"]["velocity_m_per_s"]})
        reference.attrs.update(testbench="fitting.mdwmtj.dw_velocity (1D q-phi model)",
                               source="1D collective-coordinate model")
        e = extract(reference, "current_ua", "v_dw", self.form, name="v_dw", device="mdwmtj",
                    note="DW velocity (m/s) vs write current (uA) of the 1D (q, phi) model over 1.5-8 I_c "
                         "[Kaiser et al. 2024, §2]", study=run.citation())
        files = e.write_report(out)
        files.append(write_text(out / "report.md", self.markdown(e, summary, reference, run)))
        for name in ("dw_velocity.json", "dw_velocity.png"):
            files.append(write_bytes(out / name, (run.folder / name).read_bytes()))
        return files

    @staticmethod
    def markdown(e: Fitted, summary: dict, reference: Any, run: StudyRun) -> str:
        """``report.md``: the fit's quality against the reference and its parameters."""
        stats = e.surrogate.stats
        v = reference["v_dw"].to_numpy()
        rel = (e.surrogate(reference["current_ua"].to_numpy()) - v) / v
        lo, hi = summary["fit_range_A"]
        lines = ["# DW velocity v(I) (P²M, Kaiser et al. 2024, §2)", "",
                 f"Regenerate: `spicegen study run dw-velocity --out DIR` (about 15 s), then "
                 f"`spicegen extract dw-velocity --from DIR`. Source run: study `{run.study}`, key `{run.key}`.", "",
                 "Reference: the 1D collective-coordinate (q, φ) model of `fitting/mdwmtj/dw_velocity.py`, integrated in "
                 "time (MuMax3 does not run here). Form `polynomial:2` in I (µA), fitted with lmfit over "
                 f"{lo * 1e6:.1f}–{hi * 1e6:.1f} µA (1.5–8 I_c, I_c = {summary['ith_A'] * 1e6:.1f} µA), "
                 f"{stats.points} points.", "",
                 f"- relative RMSE {100 * float(np.sqrt(np.mean(rel ** 2))):.2f} % (paper, MuMax3: 1.06 %), "
                 f"max relative error {100 * float(np.max(np.abs(rel))):.2f} %; NRMSE {100 * stats.nrmse:.2f} % FS; "
                 f"R² {stats.r2:.5f}",
                 *(f"- `{k}` = {p.value:.6g} ± {p.stderr:.2g} (95 %: {p.low:.6g} … {p.high:.6g})"
                   for k, p in stats.params.items()),
                 "", "Files: `v_dw.json` (surrogate), `v_dw_report.json`, `v_dw_residuals.png`, `dw_velocity.json` "
                 "(reference sweep), `dw_velocity.png` (overview)."]
        return "\n".join(lines) + "\n"
