"""Figures: every study and report draws through :func:`pyplot`."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend: studies write PNGs and never open a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int | None = None) -> Path:
    """Lay out ``fig``, write it to ``path`` (folders created, mode 0644), close it and return ``path``."""
    import io

    from .files import write_bytes

    plt = pyplot()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return write_bytes(path, buffer.getvalue())
