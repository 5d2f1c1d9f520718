"""Monte Carlo studies of the P²M MAC (issue 5 §4): f1 and f2 datasets, their spreads, Fig. 6-style plots.

``python -m testbenches.mdwmtj.studies --out results/p2m_mc --n 1000`` runs (resumably, through
:func:`spicegen.montecarlo.run_study`) one study folder per dataset:

- ``f1_<config>``: ``p2m-f1`` with every variation of the circuit: MDWMTJ rp (d2d; ``--rp-reading``
  picks how "20 % resistance variation" is read: ``3sigma`` → σ = 20 %/3, the default, or
  ``1sigma`` → σ = 20 %), Pelgrom Vt mismatch (A_VT = 10 mV·µm) and width mismatch (σ = 5 nm) of
  every transistor, 10 % Gaussian jitter of every write pulse's flat top (``--jitter-reading``:
  ``1sigma`` → σ = 10 %, the default, or ``3sigma`` → σ = 10 %/3). Each sample gives the
  displacement per event at nine weight magnitudes x = 1/9 … 1.
- ``f2``: ``p2m-f2`` over the combinations of the two accumulator positions (uniform over
  [0, l_FL]² , no resistance variation: the paper attributes f2's spread to the non-linear,
  voltage-dependent resistance); ``f2_rp``: the same with the rp variation of both accumulators.
  The normalized pre-activation V_PRE/V_RD vs d_DIFF = d_POS − d_NEG.
- ``mac_<config>`` (``--mac N``): ``p2m-mac``, the full channel with every variation: V_PRE vs V_TH
  after the 1 ms window (the Fig. 4c sense margin).
- ``range_p``, ``range_ap`` (``--range N``): ``p2m-f1`` cmosx with every weight MDWMTJ at R_P / R_AP, the
  programmable range of each width under variation.

Definitions (the paper does not give them; docs/mdwmtj.md §5):

- f1: d_NORM = (Δq − Δq_nom(x_min)) / (Δq_nom(1) − Δq_nom(x_min)): the nominal curve spans the full
  dynamic range [0, 1]. Worst-case spread = max over x of 3σ of d_NORM (the sample range and 6σ beside).
- f2: V_NORM = V_PRE/V_RD binned in d_DIFF (bins of 0.05); spread = max over bins of (max − min) of
  V_NORM divided by the full range of V_NORM (3σ per bin beside); the lower bound is the per-bin minimum.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spicegen.devices.mdwmtj import RP_SIGMA_1SIGMA, RP_SIGMA_3SIGMA
from spicegen.figures import pyplot
from spicegen.montecarlo import load_dataframe, make_plan, run_study, simulate
from spicegen.figures import save_figure

from testbenches.mdwmtj.mac import CONFIGS, F1_X, JITTER, P2M_F1, P2M_F2, P2M_MAC

RP_READINGS = {"3sigma": RP_SIGMA_3SIGMA, "1sigma": RP_SIGMA_1SIGMA}
"""Readings of the paper's "20 % MDWMTJ resistance variation" → relative σ of rp."""
JITTER_READINGS = {"1sigma": JITTER.sigma, "3sigma": JITTER.sigma / 3.0}
"""Readings of the paper's "10 % Gaussian jitter in the write pulse" → relative σ of each flat top."""
PAPER = {"f1_worst": {"mdwmtj": 0.3939, "cmos": 0.1094, "cmosx": 0.0803}, "f2_worst": 0.1138}
"""Worst-case variations of seed 002 §4 (normalized to the full dynamic range)."""
SOURCES = {"jitter": ("vev{k}_",), "transistor_vt": ("mw{k}__delvto", "ms{k}__delvto"),
           "transistor_w": ("mw{k}__w", "ms{k}__w"), "weight_mdwmtj_rp": ("xw{k}__rp",),
           "accumulator": ("accp__", "accn__", "men_")}
"""Variation sources of pixel k's displacement: column-name prefixes of the stored draws."""


def nominal_f1(config: str) -> np.ndarray:
    """Nominal displacement per event (m) at the nine weights F1_X."""
    values = simulate(make_plan(P2M_F1, seed=0, settings={"config": config}))
    return np.array([values[f"dq{k}"] for k in range(9)])


def f1_spread(samples: np.ndarray, nominal: np.ndarray) -> dict[str, float]:
    """Spreads of the normalized displacement (see the module docstring).

    Parameters
    ----------
    samples
        Displacements per event, shape (n, 9), m.
    nominal
        Nominal displacements at the nine weights, m.

    Returns
    -------
    dict
        ``worst_3sigma`` (the headline), ``worst_6sigma``, ``worst_range`` (max − min of the
        samples), ``worst_x`` (the weight of the worst 3σ), ``dynamic_range_ratio`` and
        ``worst_range_of_median``.
    """
    lo, hi = nominal[0], nominal[-1]
    d = (samples - lo) / (hi - lo)
    sigma = np.std(d, axis=0, ddof=1)
    return {
        "dynamic_range_ratio": float(hi / lo),
        "worst_range": float(np.max(np.ptp(d, axis=0))),
        "worst_6sigma": float(np.max(6.0 * sigma)),
        "worst_3sigma": float(np.max(3.0 * sigma)),
        "worst_x": float(F1_X[int(np.argmax(sigma))]),
        "worst_range_of_median": float(np.max(np.ptp(samples, axis=0) / np.median(samples, axis=0))),
    }


def variance_shares(frame, k: int) -> dict[str, float]:
    """Share of the variance of pixel ``k``'s displacement per variation source (linear regression).

    Parameters
    ----------
    frame
        A study's ``load_dataframe(folder, meta=True)`` (measurements and the drawn parameters).
    k
        Pixel (weight index) 0…8.

    Returns
    -------
    dict
        Source (:data:`SOURCES`) → fraction of var(dq_k) its draws explain linearly; ``residual``
        is the rest (non-linear terms and interactions).
    """
    y = frame[f"dq{k}"].to_numpy(float)
    groups = {name: [c for c in frame.columns if c.startswith(tuple(p.format(k=k) for p in prefixes))]
              for name, prefixes in SOURCES.items()}
    groups = {name: cols for name, cols in groups.items() if cols}
    cols = [c for cols in groups.values() for c in cols]
    x = frame[cols].to_numpy(float)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    beta, *_ = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y - y.mean(), rcond=None)
    shares, start = {}, 0
    for name, members in groups.items():
        part = x[:, start:start + len(members)] @ beta[start:start + len(members)]
        shares[name] = float(np.var(part) / np.var(y))
        start += len(members)
    shares["residual"] = float(np.var(y - y.mean() - x @ beta[:-1]) / np.var(y))
    return shares


def f2_spread(d_diff: np.ndarray, v: np.ndarray, width: float = 0.05) -> dict[str, object]:
    """Per-bin lower bound and the worst per-bin spread of V_NORM over its full range.

    Parameters
    ----------
    d_diff, v
        d_POS − d_NEG and V_PRE/V_RD per sample.
    width
        Bin width in d_DIFF; bins with fewer than five samples are skipped.

    Returns
    -------
    dict
        ``worst_spread`` (max over bins of (max − min) / full range), ``worst_3sigma`` (max over
        bins of 3σ / full range), ``full_range``, and per bin ``d_diff``, ``lower_bound``, ``upper_bound``.
    """
    edges = np.arange(-1.0, 1.0 + width / 2, width)
    centers, low, high, sigma = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (d_diff >= a) & (d_diff < b)
        if sel.sum() >= 5:
            centers.append(0.5 * (a + b))
            low.append(float(v[sel].min()))
            high.append(float(v[sel].max()))
            sigma.append(float(np.std(v[sel], ddof=1)))
    if not centers:
        raise ValueError(f"no d_DIFF bin of width {width} holds five samples: run more f2 samples.")
    full = float(v.max() - v.min())
    spread = (np.array(high) - np.array(low)) / full
    return {"worst_spread": float(spread.max()), "worst_3sigma": float(3.0 * max(sigma) / full), "full_range": full,
            "d_diff": centers, "lower_bound": low, "upper_bound": high}


def run_f1(out: Path, config: str, n: int, seed: int, workers: int, rp_sigma: float,
           jitter_sigma: float = JITTER.sigma) -> dict[str, object]:
    """Run (or resume) the f1 study of one configuration in ``out/f1_<config>``; its spreads and shares."""
    folder = out / f"f1_{config}"
    run_study(P2M_F1, folder, n=n, seed=seed, settings={"config": config}, workers=workers, progress=False,
              sigmas=_sigmas(P2M_F1, {"config": config}, rp_sigma, jitter_sigma))
    frame = load_dataframe(folder, meta=True)
    ok = frame[frame["status"] == "ok"]
    samples = ok[[f"dq{k}" for k in range(9)]].to_numpy(float)
    nominal = nominal_f1(config)
    np.save(out / f"f1_{config}.npy", samples)
    spread = f1_spread(samples, nominal)
    worst = F1_X.index(spread["worst_x"])
    return {"samples": int(len(ok)), "failed": int(len(frame) - len(ok)), "nominal_m": nominal.tolist(), **spread,
            "paper_worst": PAPER["f1_worst"][config], "variance_shares_at_worst_x": variance_shares(ok, worst)}


def run_f2(out: Path, name: str, n: int, seed: int, workers: int, rp_sigma: float | None) -> dict[str, object]:
    """Run (or resume) ``p2m-f2`` into ``out/name``: wall combinations only (``rp_sigma`` None) or with rp varied."""
    kinds = ("local",) if rp_sigma is None else ("local", "d2d")
    sigmas = _sigmas(P2M_F2, {}, rp_sigma) if rp_sigma is not None else None
    folder = out / name
    run_study(P2M_F2, folder, n=n, seed=seed, workers=workers, pack=50, progress=False, kinds=kinds, sigmas=sigmas)
    frame = load_dataframe(folder)
    ok = frame[frame["status"] == "ok"]
    d_diff = (ok["d_pos"] - ok["d_neg"]).to_numpy(float)
    v = ok["v_pre"].to_numpy(float)
    return {"samples": int(len(ok)), "rp_varied": rp_sigma is not None, "paper_worst": PAPER["f2_worst"],
            **f2_spread(d_diff, v), "points": (d_diff, v)}


def run(out: Path, n: int, seed: int, workers: int, rp_reading: str = "3sigma", jitter_reading: str = "1sigma",
        configs: tuple[str, ...] = CONFIGS, f2: bool = True) -> dict[str, object]:
    """Run (or resume) the studies and write ``summary.json`` and ``f1_f2.png`` into ``out``.

    Parameters
    ----------
    out
        Study folder (one sub-folder per dataset).
    n
        Samples per f1 configuration; f2 runs 10·n.
    seed, workers
        Study seed and worker processes.
    rp_reading
        ``"3sigma"`` (σ = 20 %/3, the default) or ``"1sigma"`` (σ = 20 %), see :data:`RP_READINGS`.
    jitter_reading
        ``"1sigma"`` (σ = 10 %, the default) or ``"3sigma"`` (σ = 10 %/3), see :data:`JITTER_READINGS`.
    configs
        Weight configurations to run.
    f2
        Also run the f2 studies (``f2``, ``f2_rp``; they do not depend on the jitter).

    Returns
    -------
    dict
        The summary (also written to ``summary.json``).
    """
    for reading, known, what in ((rp_reading, RP_READINGS, "rp_reading"),
                                 (jitter_reading, JITTER_READINGS, "jitter_reading")):
        if reading not in known:
            raise ValueError(f"{what} must be one of {sorted(known)}, got {reading!r}.")
    rp_sigma, jitter_sigma = RP_READINGS[rp_reading], JITTER_READINGS[jitter_reading]
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {"n": n, "seed": seed, "rp_reading": rp_reading, "rp_sigma": rp_sigma,
                                  "jitter_reading": jitter_reading, "jitter_sigma": jitter_sigma}
    summary["f1"] = {c: run_f1(out, c, n, seed, workers, rp_sigma, jitter_sigma) for c in configs}
    points = None
    if f2:
        summary["f2"] = run_f2(out, "f2", 10 * n, seed, workers, None)
        summary["f2_rp"] = run_f2(out, "f2_rp", 10 * n, seed, workers, rp_sigma)
        points = summary["f2"].pop("points")
        summary["f2_rp"].pop("points")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(out, summary, {c: np.load(out / f"f1_{c}.npy") for c in configs}, points)
    return summary


def run_mac_margin(out: Path, config: str, n: int, seed: int, workers: int) -> dict[str, object]:
    """Monte Carlo of the full ``p2m-mac`` channel (Fig. 4c): pre-activation vs threshold after 1 ms.

    Runs (or resumes) ``out/mac_<config>`` with every variation (rp at the device default, the 3σ
    reading) and writes ``mac_margin_<config>.png``.

    Returns
    -------
    dict
        Nominal and sampled V_PRE, V_TH (V), the margin V_PRE − V_TH (mean, σ, min, max) and the
        fraction of samples whose spike decision equals the nominal one.
    """
    folder = out / f"mac_{config}"
    run_study(P2M_MAC, folder, n=n, seed=seed, settings={"config": config}, workers=workers, progress=False)
    frame = load_dataframe(folder)
    ok = frame[frame["status"] == "ok"]
    nominal = simulate(make_plan(P2M_MAC, seed=0, settings={"config": config}))
    margin = (ok["v_pre"] - ok["v_th"]).to_numpy(float)
    same = float(np.mean(ok["spike"].to_numpy(float) == nominal["spike"]))
    info = {"samples": int(len(ok)), "failed": int(len(frame) - len(ok)),
            "nominal": {k: float(nominal[k]) for k in ("v_pre", "v_th", "spike", "q_pos", "q_neg")},
            "v_pre_sigma": float(ok["v_pre"].std(ddof=1)), "v_th_sigma": float(ok["v_th"].std(ddof=1)),
            "margin_mean": float(margin.mean()), "margin_sigma": float(margin.std(ddof=1)),
            "margin_min": float(margin.min()), "margin_max": float(margin.max()), "same_decision": same}
    _plot_margin(out / f"mac_margin_{config}.png", config, ok, info)
    return info


def run_programmable_range(out: Path, n: int, seed: int, workers: int) -> dict[str, object]:
    """CMOS+X programmable range under variation: ``p2m-f1`` with every weight MDWMTJ at R_P and at R_AP.

    The two studies (``out/range_p``, ``out/range_ap``) share their draws sample by sample (same seed
    and slots), so each sample's range at each width is (Δq(R_P) − Δq(R_AP)) / their mean, the
    paper's "programmability range ... from its median value" per device.

    Returns
    -------
    dict
        Per weight x: the nominal range, the sampled mean, σ and 0.135 % / 99.865 % quantiles (±3σ),
        and the fraction of samples with a range of at least 30 %.
    """
    ends = {}
    for tune in ("p", "ap"):
        folder = out / f"range_{tune}"
        run_study(P2M_F1, folder, n=n, seed=seed, settings={"config": "cmosx", "tune": tune}, workers=workers,
                  progress=False)
        frame = load_dataframe(folder)
        ends[tune] = frame[frame["status"] == "ok"].set_index("sample")[[f"dq{k}" for k in range(9)]]
    common = ends["p"].index.intersection(ends["ap"].index)
    high, low = (ends[t].loc[common].to_numpy(float) for t in ("p", "ap"))
    ratio = (high - low) / (0.5 * (high + low))
    nominal = {t: simulate(make_plan(P2M_F1, seed=0, settings={"config": "cmosx", "tune": t})) for t in ("p", "ap")}
    nom_p, nom_ap = (np.array([nominal[t][f"dq{k}"] for k in range(9)]) for t in ("p", "ap"))
    return {"samples": int(len(common)), "x": list(F1_X),
            "nominal": ((nom_p - nom_ap) / (0.5 * (nom_p + nom_ap))).tolist(),
            "mean": ratio.mean(axis=0).tolist(), "sigma": ratio.std(axis=0, ddof=1).tolist(),
            "low_3sigma": np.quantile(ratio, 0.00135, axis=0).tolist(),
            "high_3sigma": np.quantile(ratio, 0.99865, axis=0).tolist(),
            "fraction_at_least_30pct": np.mean(ratio >= 0.30, axis=0).tolist()}


def _plot_margin(path: Path, config: str, ok, info: dict[str, object]) -> None:
    """Fig. 4c style: final pre-activation and threshold of every sample."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    idx = np.arange(len(ok))
    ax.plot(idx, ok["v_pre"].to_numpy(float) * 1e3, ".", ms=3, label="V_ACT,PRE")
    ax.plot(idx, ok["v_th"].to_numpy(float) * 1e3, ".", ms=3, label="V_TH")
    ax.set_xlabel("Monte Carlo sample")
    ax.set_ylabel("at evaluation (mV)")
    ax.set_title(f"{config}: margin {info['margin_mean'] * 1e3:+.2f} ± {info['margin_sigma'] * 1e3:.2f} mV (1σ), "
                 f"same decision {info['same_decision']:.0%}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _sigmas(testbench, options: dict[str, object], rp_sigma: float,
            jitter_sigma: float = JITTER.sigma) -> dict[str, float] | None:
    """Sigma overrides for run_study: rp of every MDWMTJ and the width jitter of every event pulse,
    each only where it differs from the declared default (None when nothing does)."""
    circuit = testbench.circuit(options)
    names: dict[str, float] = {}
    for slot in circuit.slots:
        if slot.name.endswith("__rp") and rp_sigma != RP_SIGMA_3SIGMA:
            names[slot.name] = rp_sigma
        elif slot.name.startswith("vev") and slot.name.endswith("__width") and jitter_sigma != JITTER.sigma:
            names[slot.name] = jitter_sigma
    return names or None


def plot(out: Path, summary: dict, f1_samples: dict[str, np.ndarray],
         f2_points: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Fig. 6 style: (a–c) d_NORM vs x per configuration, (d) V_NORM vs d_DIFF with its lower bound."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    x = np.asarray(F1_X)
    for ax, config in zip(axes, f1_samples):
        info = summary["f1"][config]
        nominal = np.asarray(info["nominal_m"])
        d = (f1_samples[config] - nominal[0]) / (nominal[-1] - nominal[0])
        ax.plot(np.repeat(x[None, :], len(d), axis=0).ravel(), d.ravel(), ".", ms=1, alpha=0.3)
        ax.plot(x, (nominal - nominal[0]) / (nominal[-1] - nominal[0]), "k-", lw=1, label="nominal")
        ax.set_title(f"{config}: worst 3σ {info['worst_3sigma']:.1%} (paper {info['paper_worst']:.1%})", fontsize=9)
        ax.set_xlabel("normalized input × weight")
        ax.set_ylabel("d_NORM")
        ax.legend(fontsize=7)
    ax = axes[3]
    if f2_points is None:
        ax.set_axis_off()
        save_figure(fig, out / "f1_f2.png", dpi=130)
        return
    d_diff, v = f2_points
    ax.plot(d_diff, v, ".", ms=1, alpha=0.3)
    f2 = summary["f2"]
    ax.plot(f2["d_diff"], f2["lower_bound"], "r-", label="lower bound (f2)")
    ax.set_title(f"f2: worst spread {f2['worst_spread']:.1%} (paper ≤ {f2['paper_worst']:.1%})", fontsize=9)
    ax.set_xlabel("d_NORM,DIFF")
    ax.set_ylabel("V_ACT,PRE / V_RD")
    ax.legend(fontsize=7)
    save_figure(fig, out / "f1_f2.png", dpi=130)




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="P²M Monte Carlo: f1 per configuration and f2 datasets.")
    parser.add_argument("--out", default="results/p2m_mc")
    parser.add_argument("--n", type=int, default=1000, help="samples per f1 configuration (f2 runs 10n)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rp-reading", choices=sorted(RP_READINGS), default="3sigma",
                        help="'20 %% MDWMTJ resistance variation' as 3σ (σ = 0.2/3, default) or as 1σ (σ = 0.2)")
    parser.add_argument("--jitter-reading", choices=sorted(JITTER_READINGS), default="1sigma",
                        help="'10 %% Gaussian jitter' as 1σ (σ = 0.1, default) or as 3σ (σ = 0.1/3)")
    parser.add_argument("--skip-f2", action="store_true", help="run the f1 studies only")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--range", type=int, default=0, metavar="N", dest="prog_range",
                        help="also run N samples of the CMOS+X programmable range (weight MDWMTJs at R_P and R_AP)")
    parser.add_argument("--mac", type=int, default=0, metavar="N",
                        help="also run N samples of the full p2m-mac channel per configuration (Fig. 4c margin)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    summary = run(out, args.n, args.seed, args.workers, args.rp_reading, args.jitter_reading, tuple(args.configs),
                  not args.skip_f2)
    if args.mac:
        summary["mac"] = {c: run_mac_margin(out, c, args.mac, args.seed, args.workers) for c in args.configs}
    if args.prog_range:
        summary["programmable_range"] = run_programmable_range(out, args.prog_range, args.seed, args.workers)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    drop = ("nominal_m",)
    short = {"f1": {c: {k: v for k, v in s.items() if k not in drop} for c, s in summary["f1"].items()},
             **{f: {k: summary[f][k] for k in ("samples", "worst_spread", "worst_3sigma", "full_range")}
                for f in ("f2", "f2_rp") if f in summary}}
    print(json.dumps({**short, **{k: summary[k] for k in ("mac", "programmable_range") if k in summary}}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
