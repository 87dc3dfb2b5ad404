"""Observation encoders: pixels through a CNN, Dict observations through one encoder per key.

Every buffer, normaliser and exported file in the RL lab sees observations as flat vectors (the
environment's ``FlattenObservation``). An encoder takes that flat batch ``(B, obs_dim)``, gives
each part back its structure (an image is reshaped to channels x height x width, a Dict is cut
into its keys in gymnasium's flattening order) and returns features ``(B, out_dim)`` for the
algorithm's heads. Which encoder a network gets is the ``encoder`` setting:

- ``auto``: images (a uint8 Box of 2 or 3 dimensions) -> :class:`NatureCNN`; Dict -> one encoder
  per key (:class:`DictEncoder`); anything else -> no encoder (the MLP sees the flat vector).
- ``mlp``: never an encoder, the flat vector goes to the MLP (pixels included).
- ``nature``: the Nature DQN CNN (Mnih et al. 2015) for the image (or each image key).
- ``timm:NAME``: a timm backbone for the image, e.g. ``timm:resnet18`` (random weights, built with
  as many input channels as the observation has), or ``timm:local-dir:PATH`` /
  ``timm:hf-hub:ORG/NAME`` for a backbone with its pretrained weights.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from zoolab.errors import DependencyMissingError, InvalidInputError, UnsupportedError

NATURE_FEATURES = 512
VECTOR_FEATURES = 64
"""Width of the one-layer MLP each vector key of a Dict observation gets."""
ENCODER_CHOICES = "auto, mlp, nature or timm:NAME"


def is_image_space(space: gym.Space) -> bool:
    """A uint8 Box of 2 (one grey frame) or 3 dimensions (channels and a frame)."""
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)


def has_images(space: gym.Space) -> bool:
    """Whether the space is an image or a Dict with an image key."""
    if isinstance(space, gym.spaces.Dict):
        return any(has_images(sub) for sub in space.spaces.values())
    return is_image_space(space)


def image_layout(shape: tuple[int, ...]) -> tuple[tuple[int, int, int], bool]:
    """``((C, H, W), channels_last)`` of an image observation shape.

    The channel axis is the smallest of the first and last (frame stacks are channels-first,
    RGB frames channels-last), as Stable-Baselines3 decides it.
    """
    if len(shape) == 2:
        return (1, shape[0], shape[1]), False
    if shape[-1] < shape[0]:
        return (shape[2], shape[0], shape[1]), True
    return (shape[0], shape[1], shape[2]), False


def check_choice(choice: str) -> None:
    """Reject an ``encoder`` setting that names no encoder."""
    if choice in ("auto", "mlp", "nature") or (choice.startswith("timm:") and len(choice) > 5):
        return
    raise InvalidInputError(f"unknown encoder '{choice}'", hint=f"set encoder to {ENCODER_CHOICES}")


class _Image(nn.Module):
    """Flat pixels -> (B, C, H, W) floats in [0, 1]."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.chw, self.channels_last = image_layout(shape)
        self.raw_shape = tuple(int(s) for s in shape)

    def images(self, flat: torch.Tensor) -> torch.Tensor:
        x = flat.reshape(flat.shape[0], *self.raw_shape).float() / 255.0
        if len(self.raw_shape) == 2:
            return x.unsqueeze(1)
        return x.permute(0, 3, 1, 2) if self.channels_last else x


class NatureCNN(_Image):
    """The Nature DQN encoder: conv 32x8x8/4, 64x4x4/2, 64x3x3/1 (ReLU), then 512 linear units (ReLU)."""

    def __init__(self, shape: tuple[int, ...], features: int = NATURE_FEATURES) -> None:
        super().__init__(shape)
        c, h, w = self.chw
        self.convs = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = int(self.convs(torch.zeros(1, c, h, w)).shape[1])
        self.linear = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.out_dim = features
        # Orthogonal init with gain sqrt(2), as in the PPO/A2C Atari baselines.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(m.weight, math.sqrt(2))
                nn.init.zeros_(m.bias)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(self.images(flat)))


class TimmEncoder(_Image):
    """A timm backbone (classifier removed) over the image; ``name`` as ``timm.create_model`` takes it."""

    def __init__(self, shape: tuple[int, ...], name: str) -> None:
        super().__init__(shape)
        try:
            import timm
        except ImportError:
            raise DependencyMissingError("the timm encoder needs timm", hint="pip install timm") from None
        # local-dir:/hf-hub: names carry their pretrained weights; a bare architecture starts random.
        pretrained = ":" in name
        try:
            self.backbone = timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=self.chw[0])
        except (RuntimeError, ValueError, OSError) as exc:
            line = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise InvalidInputError(f"timm cannot build the encoder '{name}': {line}",
                                    hint="name a timm architecture, e.g. encoder=timm:resnet18") from None
        self.out_dim = int(self.backbone.num_features)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.images(flat))


class VectorEncoder(nn.Module):
    """One ReLU layer over a vector part of a Dict observation."""

    def __init__(self, n_in: int, features: int = VECTOR_FEATURES) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, features), nn.ReLU())
        self.out_dim = features

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return self.net(flat.float())


def image_encoder(shape: tuple[int, ...], choice: str) -> nn.Module:
    """The CNN that ``choice`` names for an image of ``shape`` (``auto`` is the Nature CNN)."""
    if choice.startswith("timm:"):
        return TimmEncoder(shape, choice[len("timm:"):])
    return NatureCNN(shape)


class DictEncoder(nn.Module):
    """One encoder per key of a Dict observation (CNN for images, a ReLU layer for the rest), concatenated."""

    def __init__(self, space: gym.spaces.Dict, choice: str) -> None:
        super().__init__()
        self.keys: list[str] = []
        self.slices: list[tuple[int, int]] = []
        encoders: list[nn.Module] = []
        start = 0
        for key, sub in space.spaces.items():  # the order gymnasium's flatten() concatenates in
            size = int(gym.spaces.flatdim(sub))
            enc = image_encoder(tuple(sub.shape), choice) if is_image_space(sub) else VectorEncoder(size)
            self.keys.append(str(key))
            self.slices.append((start, start + size))
            encoders.append(enc)
            start += size
        self.parts = nn.ModuleList(encoders)
        self.out_dim = sum(int(e.out_dim) for e in encoders)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return torch.cat([enc(flat[:, a:b]) for enc, (a, b) in zip(self.parts, self.slices, strict=True)], -1)


def make_encoder(space: gym.Space, choice: str) -> nn.Module | None:
    """The encoder ``choice`` gives observations of ``space`` (the structured, unflattened space), or None."""
    check_choice(choice)
    if choice == "mlp":
        return None
    if not (is_image_space(space) or isinstance(space, gym.spaces.Dict)):
        if choice != "auto":
            raise UnsupportedError(f"encoder={choice} needs image or Dict observations, not {space}",
                                   hint="leave encoder=auto for vector observations")
        return None
    if isinstance(space, gym.spaces.Dict):
        return DictEncoder(space, choice)
    assert isinstance(space, gym.spaces.Box)
    return image_encoder(tuple(space.shape), choice)
