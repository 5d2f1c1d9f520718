"""Bridges to other Python circuit tools (each imports its tool only when called)."""
