"""Runnable examples of the fitting layer (``python -m fitting.examples.<name>``)."""
