"""N-MNIST-like clips from scikit-learn's digits: ON/OFF events that follow the three saccades."""
from __future__ import annotations

import numpy as np
import pytest

from fitting.mdwmtj.saccades import TRIANGLE, Camera, load_digits, monitor, record, trajectory

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_digits()
    return images[:60], labels[:60]


def centroid(counts: np.ndarray) -> np.ndarray:
    """(x, y) centre of mass of event counts ``(n, H, W)``, per clip."""
    yy, xx = np.mgrid[0:counts.shape[-2], 0:counts.shape[-1]]
    total = counts.sum(axis=(1, 2))
    return np.stack([(counts * xx).sum(axis=(1, 2)) / total, (counts * yy).sum(axis=(1, 2)) / total], axis=1)


def test_the_dataset_is_scikit_learns_digits(digits):
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 1
    assert sorted(set(labels.tolist())) == list(range(10))


def test_the_trajectory_is_a_closed_triangle_spanning_the_margin():
    camera = Camera()
    path = trajectory(camera)
    margin = camera.sensor - camera.digit
    assert path.shape == (3 * camera.steps + 1, 2)
    assert path[0].tolist() == path[-1].tolist() == [0.0, 0.0]
    assert path[camera.steps].tolist() == [0.5 * margin, margin] and path[2 * camera.steps].tolist() == [margin, 0.0]
    assert path.min() == 0 and path.max() == margin          # the digit never leaves the sensor
    step = np.hypot(*np.diff(path, axis=0).T)
    assert np.allclose(step[:camera.steps], step[0]) and step.max() < 1.0   # constant speed, sub-pixel frames


def test_events_are_on_at_the_leading_and_off_at_the_trailing_edge_of_each_saccade(digits):
    camera = Camera(noise_rate=0.0)
    clips = record(digits[0], camera, np.random.default_rng(0))
    assert clips.shape == (60, 3 * camera.bins, 2, camera.sensor, camera.sensor) and clips.dtype == np.uint8
    per_saccade = clips.reshape(60, 3, camera.bins, 2, camera.sensor, camera.sensor).sum(axis=2).astype(float)
    corners = np.asarray(TRIANGLE) * (camera.sensor - camera.digit)
    for k in range(3):
        on, off = per_saccade[:, k, 0], per_saccade[:, k, 1]
        assert np.all(on.sum(axis=(1, 2)) > 50) and np.all(off.sum(axis=(1, 2)) > 50)
        motion = corners[k + 1] - corners[k]
        # a bright digit moving along `motion`: pixels ahead brighten (ON), pixels behind darken (OFF)
        along = (centroid(on) - centroid(off)) @ (motion / np.hypot(*motion))
        assert np.all(along > 1.0), (k, along.min())
    assert clips.max() <= camera.steps // camera.bins            # one event per pixel and frame at most


def test_a_blank_monitor_gives_background_noise_only_and_clips_are_seeded(digits):
    camera = Camera()
    still = Camera(noise_rate=0.0)
    blank = record(np.zeros((200, 8, 8)), camera, np.random.default_rng(1))
    expected = camera.noise_rate * blank[0].size
    assert blank.reshape(200, -1).sum(axis=1).mean() == pytest.approx(expected, rel=0.1)   # Poisson background
    assert record(np.zeros((5, 8, 8)), still, np.random.default_rng(1)).sum() == 0
    first, again = (record(digits[0][:5], camera, np.random.default_rng(1)) for _ in range(2))
    assert np.array_equal(first, again)                                                     # seeded


def test_the_monitor_shows_log_intensity_between_black_and_white(digits):
    camera = Camera()
    shown = monitor(digits[0][:3], camera)
    assert shown.shape == (3, camera.sensor, camera.sensor)
    assert shown.min() == pytest.approx(np.log(camera.black)) and shown.max() <= 1e-12
    assert np.all(shown[:, camera.digit:, :] == np.log(camera.black))    # outside the digit: monitor black


def test_bad_cameras_are_refused():
    with pytest.raises(ValueError, match=r"sensor \(16\) must exceed the digit \(16\)"):
        Camera(sensor=16)
    with pytest.raises(ValueError, match=r"steps \(10\) must be a positive multiple of bins \(4\)"):
        Camera(steps=10)
    with pytest.raises(ValueError, match="threshold > 0"):
        Camera(threshold=0.0)
