"""N-MNIST-like event streams from scikit-learn's 8×8 digits, recorded by a simulated event camera in three saccades.

N-MNIST (Orchard, Jayawant, Cohen, Thakor, "Converting static image datasets to spiking neuromorphic
datasets using saccades", Frontiers in Neuroscience 9, 2015) was recorded by moving an ATIS event
camera on a pan-tilt unit in three saccades over MNIST digits shown on a monitor; its 28×28 digits
become 34×34-pixel recordings of ON/OFF events. The MNIST files cannot be downloaded here, so this
module emulates that recording on the 1797 handwritten 8×8 digits that ship inside scikit-learn
(``sklearn.datasets.load_digits``, no download):

- **Monitor.** Each digit (gray level 0–16) is upsampled by cubic interpolation to ``digit`` ×
  ``digit`` pixels (28, MNIST's size) and shown white on a monitor whose black is ``black`` of its
  white (intensity ``I = black + (1 − black)·g``, g ∈ [0, 1]).
- **Saccades.** The image moves over the ``sensor`` × ``sensor`` pixel array (34 = 28 + 6, N-MNIST's
  size) along the three sides of a triangle that ends where it starts (:data:`TRIANGLE`), each side at
  constant speed in ``steps`` frames; every frame is the monitor image shifted by bilinear interpolation.
- **Event pixel.** A pixel keeps the log intensity of its last event; when the log intensity of
  a frame differs from it by at least the pixel's contrast threshold (``threshold``, with a fixed
  pixel-to-pixel spread ``mismatch`` drawn once per camera), it emits one ON (brighter) or OFF
  (darker) event and takes the new level as reference (at most one event per pixel and frame: the
  pixel's refractory time). Before the first saccade the scene is still, so no event.
- **Noise.** Background-activity events at ``noise_rate`` per pixel, polarity and time bin (Poisson).
- **Time bins.** The frames of each saccade are summed into ``bins`` time bins of event counts.

A clip is ``(3·bins, 2, sensor, sensor)`` event counts (channel 0 ON, 1 OFF), bins in time order,
saccade after saccade.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TRIANGLE = ((0.0, 0.0), (0.5, 1.0), (1.0, 0.0), (0.0, 0.0))
"""Offsets (x right, y down) of the digit's top-left corner at the start and end of the three saccades,
in units of the margin ``sensor − digit``: down-right, up-right, left back to the start (our choice of
a triangle that spans the margin, as N-MNIST's motion spans the 6 pixels by which its 34-pixel sensor
exceeds its 28-pixel digits)."""


@dataclass(frozen=True)
class Camera:
    """Settings of the simulated recording (see the module docstring)."""

    sensor: int = 20
    """Sensor side (pixels)."""
    digit: int = 16
    """Side of the displayed digit (pixels)."""
    steps: int = 12
    """Frames per saccade."""
    bins: int = 4
    """Time bins per saccade (``steps`` must be a multiple)."""
    threshold: float = 0.2
    """Contrast threshold: change of ln(intensity) for one event."""
    mismatch: float = 0.03
    """Pixel-to-pixel standard deviation of the threshold (fixed pattern of one camera)."""
    black: float = 0.05
    """Monitor black level relative to its white."""
    noise_rate: float = 0.002
    """Background-activity events per pixel, polarity and time bin."""

    def __post_init__(self) -> None:
        if self.sensor <= self.digit:
            raise ValueError(f"sensor ({self.sensor}) must exceed the digit ({self.digit}): the saccades span the "
                             "margin between them.")
        if self.bins < 1 or self.steps % self.bins:
            raise ValueError(f"steps ({self.steps}) must be a positive multiple of bins ({self.bins}).")
        if not 0 < self.black < 1 or self.threshold <= 0 or self.mismatch < 0 or self.noise_rate < 0:
            raise ValueError(f"need 0 < black < 1, threshold > 0, mismatch >= 0 and noise_rate >= 0; got {self}.")

    @property
    def time_bins(self) -> int:
        """Time bins of a clip (three saccades)."""
        return 3 * self.bins


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits: gray levels ``(1797, 8, 8)`` in [0, 1] and labels 0–9.

    Raises
    ------
    ModuleNotFoundError
        Without scikit-learn (install the ``torch`` extra: ``pip install spicegen[torch]``).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("the digit clips need scikit-learn; install it with 'pip install "
                                  "spicegen[torch]' (or 'pip install scikit-learn').") from error
    data = sklearn_digits()
    return data.images / 16.0, data.target.astype(np.int64)


def trajectory(camera: Camera) -> np.ndarray:
    """Offsets ``(3·steps + 1, 2)`` (x, y in pixels) of the digit on the sensor, frame by frame."""
    corners = np.asarray(TRIANGLE) * (camera.sensor - camera.digit)
    t = np.arange(camera.steps) / camera.steps
    legs = [a + t[:, None] * (b - a) for a, b in zip(corners[:-1], corners[1:])]
    return np.vstack([*legs, corners[-1:]])


def monitor(images: np.ndarray, camera: Camera) -> np.ndarray:
    """ln(intensity) ``(n, sensor, sensor)`` of the digits on the monitor, at the top-left of the sensor."""
    from scipy import ndimage

    zoom = camera.digit / images.shape[-1]
    shown = np.clip(ndimage.zoom(images, (1, zoom, zoom), order=3), 0.0, 1.0)
    canvas = np.zeros((len(images), camera.sensor, camera.sensor))
    canvas[:, :camera.digit, :camera.digit] = shown
    return np.log(camera.black + (1.0 - camera.black) * canvas)


def record(images: np.ndarray, camera: Camera, rng: np.random.Generator,
           thresholds: np.ndarray | None = None) -> np.ndarray:
    """Event counts ``(n, 3·bins, 2, sensor, sensor)`` (uint8; ON, OFF) of ``images`` recorded in three saccades.

    ``thresholds`` (``(sensor, sensor)``, one camera's pixel thresholds) default to a draw from ``rng``
    (:func:`pixel_thresholds`); the background-activity events are drawn from ``rng``.
    """
    from scipy import ndimage

    if thresholds is None:
        thresholds = pixel_thresholds(camera, rng)
    scene = monitor(images, camera)
    floor = np.log(camera.black)
    per_bin = camera.steps // camera.bins
    events = np.zeros((len(images), camera.time_bins, 2, camera.sensor, camera.sensor), dtype=np.uint8)
    reference = scene
    for frame, (dx, dy) in enumerate(trajectory(camera)[1:]):
        level = ndimage.shift(scene, (0.0, dy, dx), order=1, mode="constant", cval=floor, prefilter=False)
        change = level - reference
        on, off = change >= thresholds, change <= -thresholds
        events[:, frame // per_bin, 0] += on
        events[:, frame // per_bin, 1] += off
        reference = np.where(on | off, level, reference)
    noise = rng.poisson(camera.noise_rate, events.shape).astype(np.uint8)
    return events + noise


def pixel_thresholds(camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """One camera's contrast thresholds ``(sensor, sensor)``: ``threshold`` with ``mismatch`` spread (at least a
    tenth of ``threshold``)."""
    drawn = rng.normal(camera.threshold, camera.mismatch, (camera.sensor, camera.sensor))
    return np.maximum(drawn, 0.1 * camera.threshold)


def plot_clip(image: np.ndarray, clip: np.ndarray, label: int, camera: Camera, path: Any) -> Any:
    """The source digit and its events per saccade (ON − OFF counts, in events per pixel) as a PNG."""
    from spicegen.figures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 5, figsize=(10.5, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 1, 0.06]})
    axes, bar = axes[:4], axes[4]
    axes[0].imshow(image, cmap="gray_r", vmin=0, vmax=1)
    axes[0].set_title(f"scikit-learn digit '{label}' (8×8)", fontsize=9)
    per_saccade = clip.reshape(3, camera.bins, 2, camera.sensor, camera.sensor).sum(axis=1).astype(float)
    limit = float(np.abs(per_saccade[:, 0] - per_saccade[:, 1]).max()) or 1.0
    corners = np.asarray(TRIANGLE) * (camera.sensor - camera.digit)
    for k, ax in enumerate(axes[1:]):
        shown = ax.imshow(per_saccade[k, 0] - per_saccade[k, 1], cmap="RdBu_r", vmin=-limit, vmax=limit)
        (x0, y0), (x1, y1) = corners[k], corners[k + 1]
        ax.set_title(f"saccade {k + 1}: ON {int(per_saccade[k, 0].sum())}, OFF {int(per_saccade[k, 1].sum())}\n"
                     f"moves ({x1 - x0:+.0f}, {y1 - y0:+.0f}) px", fontsize=9)
    fig.colorbar(shown, cax=bar, label="ON − OFF events per pixel")
    for ax in axes:
        ax.set_xlabel("x (pixel)")
    axes[0].set_ylabel("y (pixel)")
    return save_figure(fig, path, dpi=120)
