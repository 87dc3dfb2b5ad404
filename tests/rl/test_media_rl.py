"""zoolab.rl.media: mp4 videos of an agent and learning-curve PNGs from metrics.csv.

These tests drive the media module with a hand-written policy object (it only needs ``env_id``,
``make_env`` and ``predict``) and hand-written metrics.csv files, so they need no training.
"""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from zoolab.errors import InvalidInputError, NotFoundError
from zoolab.rl.media import plot_learning_curves, read_curve, record_video, smooth


class PolePolicy:
    """Push the cart toward where the pole leans: balances CartPole for a while."""

    env_id = "CartPole-v1"

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        return gym.make(self.env_id, render_mode=render_mode)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(obs)
        return (obs[..., 2] > 0).astype(np.int64)


def write_metrics(run: Path, rows: list[dict[str, object]], *, algo: str = "ppo", env_id: str = "CartPole-v1") -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(f"algorithm: {algo}\nenv_id: {env_id}\nseed: 0\n")
    with (run / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return run


def fake_curve(n: int, slope: float, *, with_eval: bool = True) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        step = (i + 1) * 1000
        rows.append({
            "step": step,
            "recent_return": "" if i == 0 else min(500.0, slope * i + 10 * np.sin(i)),
            "loss": 1.0 / (i + 1),
            "eval_return": (min(500.0, slope * i) if with_eval and i % 5 == 4 else ""),
        })
    return rows


def test_record_video_writes_a_playable_mp4(tmp_path: Path) -> None:
    out = tmp_path / "videos" / "pole.mp4"
    result = record_video(PolePolicy(), out, episodes=2, seed=3, max_steps=40)
    assert result.path == out and out.stat().st_size > 0
    assert not list(out.parent.glob("*.part*"))
    # 2 episodes, each: the reset frame plus at most 40 steps.
    assert 2 * 2 <= result.frames <= 2 * 41
    assert len(result.returns) == 2 and all(r > 0 for r in result.returns)
    frames = mp4_frames(out)
    assert frames.shape[0] == result.frames
    assert frames.shape[1:] == (400, 600, 3)  # CartPole's frame size is kept, not rescaled
    assert frames.std() > 0  # a picture, not a blank frame
    assert result.fps == 50  # CartPole's render_fps


def mp4_frames(path: Path) -> np.ndarray:
    """Decode every frame of an mp4 with ffmpeg (imageio's FFMPEG reader)."""
    with imageio.get_reader(path, format="FFMPEG") as reader:
        # Iterate: the reader reports an infinite length, which list() would try to preallocate.
        return np.stack([frame for frame in reader])


def test_record_video_rejects_zero_episodes(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="episodes"):
        record_video(PolePolicy(), tmp_path / "x.mp4", episodes=0)
    assert not (tmp_path / "x.mp4").exists()


def test_smooth_is_a_trailing_mean() -> None:
    values = np.array([0.0, 2.0, 4.0, 6.0])
    assert smooth(values, 1) is values
    np.testing.assert_allclose(smooth(values, 2), [0.0, 1.0, 3.0, 5.0])
    np.testing.assert_allclose(smooth(values, 10), [0.0, 1.0, 2.0, 3.0])


def test_read_curve_skips_empty_cells(tmp_path: Path) -> None:
    run = write_metrics(tmp_path / "run", fake_curve(20, 25.0))
    curve = read_curve(run)
    assert curve.label == "PPO CartPole-v1 (run)"
    assert curve.steps.size == 19  # the first row has no finished episode yet
    assert curve.eval_steps.tolist() == [5000.0, 10000.0, 15000.0, 20000.0]
    assert read_curve(run, metric="loss").steps.size == 20


def test_plot_one_run_png(tmp_path: Path) -> None:
    run = write_metrics(tmp_path / "run", fake_curve(50, 12.0))
    out = plot_learning_curves([run], tmp_path / "curve.png", smooth_window=5, target=475.0)
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (960, 576)  # 8 x 4.8 inches at 120 dpi
        # Not a blank canvas: the curves put many colours on it.
        assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 20


def test_plot_several_runs_overlaid(tmp_path: Path) -> None:
    a = write_metrics(tmp_path / "a", fake_curve(40, 15.0))
    b = write_metrics(tmp_path / "b", fake_curve(40, 8.0, with_eval=False), algo="dqn")
    out = plot_learning_curves([a, b], tmp_path / "both.png", labels=["fast", "slow"])
    with Image.open(out) as image:
        assert image.size == (960, 576)


def test_plot_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no metrics.csv"):
        plot_learning_curves([tmp_path / "missing"], tmp_path / "x.png")
    empty = write_metrics(tmp_path / "empty", [{"step": 100, "recent_return": ""}])
    with pytest.raises(InvalidInputError, match="no finished episode"):
        plot_learning_curves([empty], tmp_path / "x.png")
    nostep = write_metrics(tmp_path / "nostep", [{"when": 1, "recent_return": 3}])
    with pytest.raises(InvalidInputError, match="no step column"):
        plot_learning_curves([nostep], tmp_path / "x.png")
    run = write_metrics(tmp_path / "run", fake_curve(5, 1.0))
    with pytest.raises(InvalidInputError, match="no column 'nope'"):
        plot_learning_curves([run], tmp_path / "x.png", metric="nope")
    with pytest.raises(InvalidInputError, match="--smooth"):
        plot_learning_curves([run], tmp_path / "x.png", smooth_window=0)
    assert not (tmp_path / "x.png").exists()
