"""Monte Carlo studies of the P²M MAC (issue 5 §4): f1 and f2 datasets, their spreads, Fig. 6-style plots.

``python -m testbenches.p2m_study --out results/p2m_mc --n 1000 --workers 2`` runs (resumably, through
:func:`spicegen.montecarlo.run_study`) one study folder per dataset:

- ``f1_<config>``: ``p2m-f1`` with every variation of the circuit: MDWMTJ rp (d2d, σ = 20 %/3 by
  default; ``--rp-sigma 0.2`` for the 1σ reading), Pelgrom Vt mismatch (A_VT = 10 mV·µm) and width
  mismatch (σ = 5 nm) of every transistor, 10 % Gaussian jitter of every write pulse width. Each
  sample gives the displacement per event at nine weight magnitudes x = 1/9 … 1.
- ``f2``: ``p2m-f2``: both accumulator positions uniform over [0, l_FL] and their rp varied; the
  normalized pre-activation V_PRE/V_RD vs d_DIFF = d_POS − d_NEG.

Definitions (the paper does not give them; docs/mdwmtj.md):

- f1: d_NORM = (Δq − Δq_nom(x_min)) / (Δq_nom(1) − Δq_nom(x_min)): the nominal curve spans the full
  dynamic range [0, 1]. Worst-case spread = max over x of the sample range (max − min) of d_NORM;
  the 3σ reading (6σ, i.e. ±3σ) is reported beside it.
- f2: V_NORM = V_PRE/V_RD binned in d_DIFF (bins of 0.05); spread = max over bins of (max − min) of
  V_NORM divided by the full range of V_NORM; the lower bound is the per-bin minimum.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spicegen.devices.mdwmtj import RP_SIGMA_3SIGMA
from spicegen.montecarlo import load_dataframe, make_plan, run_study, simulate

from .p2m_mac import CONFIGS, F1_X, P2M_F1, P2M_F2


def nominal_f1(config: str) -> np.ndarray:
    """Nominal displacement per event (m) at the nine weights F1_X."""
    values = simulate(make_plan(P2M_F1, seed=0, settings={"config": config}))
    return np.array([values[f"dq{k}"] for k in range(9)])


def f1_spread(samples: np.ndarray, nominal: np.ndarray) -> dict[str, float]:
    """Spreads of the normalized displacement (see the module docstring); ``samples`` is (n, 9) in m."""
    lo, hi = nominal[0], nominal[-1]
    d = (samples - lo) / (hi - lo)
    return {
        "dynamic_range_ratio": float(hi / lo),
        "worst_range": float(np.max(np.ptp(d, axis=0))),
        "worst_6sigma": float(np.max(6.0 * np.std(d, axis=0, ddof=1))),
        "worst_3sigma": float(np.max(3.0 * np.std(d, axis=0, ddof=1))),
        "worst_range_of_median": float(np.max(np.ptp(samples, axis=0) / np.median(samples, axis=0))),
    }


def f2_spread(d_diff: np.ndarray, v: np.ndarray, width: float = 0.05) -> dict[str, object]:
    """Per-bin lower bound and the worst per-bin spread of V_NORM over its full range."""
    edges = np.arange(-1.0, 1.0 + width / 2, width)
    centers, low, high = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (d_diff >= a) & (d_diff < b)
        if sel.sum() >= 5:
            centers.append(0.5 * (a + b))
            low.append(float(v[sel].min()))
            high.append(float(v[sel].max()))
    full = float(v.max() - v.min())
    spread = (np.array(high) - np.array(low)) / full
    return {"worst_spread": float(spread.max()), "full_range": full, "d_diff": centers, "lower_bound": low,
            "upper_bound": high}


def run(out: Path, n: int, seed: int, workers: int, rp_sigma: float) -> dict[str, object]:
    """Run (or resume) the studies and write ``summary.json`` and the figures into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    sigmas = {} if rp_sigma == RP_SIGMA_3SIGMA else {"rp": rp_sigma}
    summary: dict[str, object] = {"n": n, "seed": seed, "rp_sigma": rp_sigma}
    f1: dict[str, dict[str, object]] = {}
    for config in CONFIGS:
        folder = out / f"f1_{config}"
        run_study(P2M_F1, folder, n=n, seed=seed, settings={"config": config}, workers=workers, progress=False,
                  **_sigma_kwargs(sigmas, P2M_F1, config))
        df = load_dataframe(folder)
        ok = df[df["status"] == "ok"]
        samples = ok[[f"dq{k}" for k in range(9)]].to_numpy(float)
        nominal = nominal_f1(config)
        f1[config] = {"samples": int(len(ok)), "failed": int(len(df) - len(ok)), "nominal_m": nominal.tolist(),
                      **f1_spread(samples, nominal)}
        np.save(out / f"f1_{config}.npy", samples)
    summary["f1"] = f1
    folder = out / "f2"
    run_study(P2M_F2, folder, n=10 * n, seed=seed, workers=workers, pack=50, progress=False,
              **_sigma_kwargs(sigmas, P2M_F2, None))
    df = load_dataframe(folder)
    ok = df[df["status"] == "ok"]
    d_diff = (ok["d_pos"] - ok["d_neg"]).to_numpy(float)
    v = ok["v_pre"].to_numpy(float)
    summary["f2"] = {"samples": int(len(ok)), **f2_spread(d_diff, v)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(out, summary, {c: np.load(out / f"f1_{c}.npy") for c in CONFIGS}, d_diff, v)
    return summary


def _sigma_kwargs(sigmas: dict[str, float], testbench, config: str | None) -> dict[str, object]:
    """``sigmas`` for run_study: the rp override for every MDWMTJ instance of the circuit."""
    if not sigmas:
        return {}
    circuit = testbench.circuit({"config": config} if config else {})
    names = {s.name: sigmas["rp"] for s in circuit.slots if s.name.endswith("__rp")}
    return {"sigmas": names}


def plot(out: Path, summary: dict, f1_samples: dict[str, np.ndarray], d_diff: np.ndarray, v: np.ndarray) -> None:
    """Fig. 6 style: (a–c) d_NORM vs x per configuration, (d) V_NORM vs d_DIFF with its lower bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    x = np.asarray(F1_X)
    for ax, config in zip(axes, CONFIGS):
        info = summary["f1"][config]
        nominal = np.asarray(info["nominal_m"])
        d = (f1_samples[config] - nominal[0]) / (nominal[-1] - nominal[0])
        ax.plot(np.repeat(x[None, :], len(d), axis=0).ravel(), d.ravel(), ".", ms=1, alpha=0.3)
        ax.plot(x, (nominal - nominal[0]) / (nominal[-1] - nominal[0]), "k-", lw=1, label="nominal")
        ax.set_title(f"{config}: worst range {info['worst_range']:.1%}, 6σ {info['worst_6sigma']:.1%}")
        ax.set_xlabel("normalized input × weight")
        ax.set_ylabel("d_NORM")
        ax.legend(fontsize=7)
    ax = axes[3]
    ax.plot(d_diff, v, ".", ms=1, alpha=0.3)
    f2 = summary["f2"]
    ax.plot(f2["d_diff"], f2["lower_bound"], "r-", label="lower bound (f2)")
    ax.set_title(f"f2: worst spread {f2['worst_spread']:.1%}")
    ax.set_xlabel("d_NORM,DIFF")
    ax.set_ylabel("V_ACT,PRE / V_RD")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "f1_f2.png", dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="P²M Monte Carlo: f1 per configuration and f2 datasets.")
    parser.add_argument("--out", default="results/p2m_mc")
    parser.add_argument("--n", type=int, default=1000, help="samples per f1 configuration (f2 runs 10n)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rp-sigma", type=float, default=RP_SIGMA_3SIGMA,
                        help="relative sigma of the MDWMTJ resistance (default 0.2/3; 0.2 for the 1σ reading)")
    args = parser.parse_args(argv)
    summary = run(Path(args.out), args.n, args.seed, args.workers, args.rp_sigma)
    short = {"f1": {c: {k: v for k, v in s.items() if k != "nominal_m"} for c, s in summary["f1"].items()},
             "f2": {k: summary["f2"][k] for k in ("samples", "worst_spread", "full_range")}}
    print(json.dumps(short, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
