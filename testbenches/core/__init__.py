"""Generic testbenches: the equivalence harness, the library report, the Monte Carlo demo."""
