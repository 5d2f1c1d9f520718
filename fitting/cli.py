"""``spicegen fit`` and ``spicegen export`` (added to the CLI by entry point)."""
from __future__ import annotations

import argparse

from spicegen.cli import number, pairs, whole
from spicegen.parsing import parse_float


def cmd_fit(args: argparse.Namespace) -> int:
    from .extract import extract

    domain = None
    if args.domain:
        lo, sep, hi = args.domain.partition(":")
        if not sep:
            raise ValueError(f"--domain expects LOW:HIGH, got {args.domain!r}.")
        domain = (parse_float(lo, "--domain LOW"), parse_float(hi, "--domain HIGH"))
    extraction = extract(args.study, args.x, args.y, args.form.split(","), statistic=args.stat, quantile=args.quantile,
                         bins=args.bins, where=pairs(args.where, "--where", number=False),
                         melt=pairs(args.melt, "--melt"), params=pairs(args.start, "--start"),
                         fixed=pairs(args.fix, "--fix"),
                         variation=args.variation.split(",") if args.variation else None, domain=domain,
                         name=args.name, nan_policy=args.nan, device=args.device)
    surrogate = extraction.surrogate
    if args.report:
        for path in extraction.write_report(args.report):
            print(path)
    surrogate.save(args.output)
    print(extraction.format_text())
    print(f"wrote {args.output}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import write_export
    from .surrogate import Surrogate

    try:
        surrogate = Surrogate.load(args.surrogate)
        path = write_export(surrogate, args.to, args.output)
    except ModuleNotFoundError as exc:
        raise ValueError(str(exc)) from None
    print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fit`` and ``export`` to the ``spicegen`` sub-commands."""
    fit = sub.add_parser("fit", help="fit a form to a Monte Carlo study (mean, sigma, envelope) -> surrogate JSON")
    fit.add_argument("study", help="study folder (spicegen mc --out) or a .csv file")
    fit.add_argument("--form", required=True, help="form: tanh, polynomial:3, 'tanh + polynomial:1', ... "
                     "(fitting.forms.FORMS); comma-separated candidates pick the lowest BIC (a last 'interpolate' "
                     "is the per-x fallback when no smooth form passes the chi-square test); every candidate's "
                     "chi-square, AIC and BIC are printed")
    fit.add_argument("--x", required=True, help="input column")
    fit.add_argument("--y", required=True, help="output column")
    fit.add_argument("--stat", default="mean", choices=("mean", "std", "relstd", "lower", "upper", "quantile"),
                     help="statistic fitted at each x (default mean; lower/upper = worst-case envelope)")
    fit.add_argument("--quantile", type=number, help="level q for --stat quantile")
    fit.add_argument("--bins", type=whole(2), help="group a continuous x into N equal-count bins")
    fit.add_argument("--where", action="append", metavar="COL=VALUE", help="keep only these rows (repeatable)")
    fit.add_argument("--melt", action="append", metavar="COL=X", help="stack wide column COL into --y at x = X "
                     "(repeatable; --x/--y then name the stacked columns)")
    fit.add_argument("--start", action="append", metavar="NAME=VALUE", help="starting value (repeatable)")
    fit.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter (repeatable)")
    fit.add_argument("--variation", metavar="FORM",
                     help="also fit sigma(x) with this form (or candidates a,b; a last 'interpolate' is the per-x "
                          "fallback when no smooth form passes the chi-square test)")
    fit.add_argument("--domain", metavar="LOW:HIGH", help="validity domain of x (default: the data range)")
    fit.add_argument("--name", help="surrogate name (default <y>_<stat>)")
    fit.add_argument("--nan", default="raise", choices=("raise", "omit"), help="NaN in used columns")
    fit.add_argument("--device", help="device name recorded in the provenance")
    fit.add_argument("--report", metavar="DIR", help="also write a report JSON and a residual plot there")
    fit.add_argument("-o", "--output", required=True, help="surrogate JSON to write")
    fit.set_defaults(func=cmd_fit)

    export = sub.add_parser("export", help="render a surrogate JSON as a numpy/torch module, JSON or ONNX")
    export.add_argument("surrogate", help="surrogate JSON (from spicegen fit)")
    export.add_argument("--to", required=True, choices=("numpy", "torch", "json", "onnx"))
    export.add_argument("-o", "--output", required=True, help="file to write (.py for numpy/torch)")
    export.set_defaults(func=cmd_export)
