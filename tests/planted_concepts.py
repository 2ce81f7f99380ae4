"""Pictures with planted concepts and a tiny network trained on them (a test helper, not a test).

Class A (output 0) pictures carry either a red square (kind 1) or a blue vertical bar (kind 2) at a random
place; class B (output 1) pictures carry a green cross (kind 3) or nothing (kind 0). The network must find a
red or a blue mark to say A, so the concepts of its last convolution that explain A are the two marks. It
pools that convolution by its maximum, so a concept's relevance stays where its mark is. Everything is
seeded: the same call gives the same pictures, and the trained network is cached for the test session
(about 2 to 4 s to train on two cores).

Test modules import this module by name (``import planted_concepts``), as they do ``helpers``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers import loaded

SIDE = 32
#: Mark kinds: 1 red square, 2 blue vertical bar (class A); 3 green cross, 0 nothing (class B).
RED_SQUARE, BLUE_BAR, GREEN_CROSS, NOTHING = 1, 2, 3, 0
#: Height and width of each mark.
MARK_SHAPE = {RED_SQUARE: (5, 5), BLUE_BAR: (9, 2), GREEN_CROSS: (7, 7)}
CLASS_NAMES = ("A", "B")


@dataclass(frozen=True)
class Pictures:
    """Generated pictures: ``images`` ``(N, 3, SIDE, SIDE)`` float32 in [0, 1], class ``labels`` (0 A, 1 B),
    mark ``kinds`` (``10 * first + second`` for a picture of two marks) and each mark's ``boxes``
    ``(top, left, bottom, right)`` (bottom and right exclusive; the whole picture for pictures without a
    mark; the first mark's box for a picture of two)."""

    images: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    boxes: np.ndarray


def _paint(image: np.ndarray, kind: int, top: int, left: int) -> None:
    h, w = MARK_SHAPE[kind]
    if kind == RED_SQUARE:
        image[:, top:top + h, left:left + w] = np.array([0.95, 0.05, 0.05])[:, None, None]
    elif kind == BLUE_BAR:
        image[:, top:top + h, left:left + w] = np.array([0.05, 0.05, 0.95])[:, None, None]
    elif kind == GREEN_CROSS:
        green = np.array([0.05, 0.95, 0.05])[:, None]
        image[:, top + h // 2, left:left + w] = green
        image[:, top:top + h, left + w // 2] = green


def make_pictures(kinds, seed: int = 0) -> Pictures:
    """One picture per entry of ``kinds``: a mark kind (0 to 3), or a tuple of kinds painted apart.

    The background is grey noise; each mark lies wholly inside the picture at a random place. The label is
    A (0) when a red or blue mark is present, else B (1).
    """
    rng = np.random.default_rng(seed)
    images, labels, flat_kinds, boxes = [], [], [], []
    for entry in kinds:
        marks = tuple(entry) if isinstance(entry, (tuple, list)) else (int(entry),)
        image = np.clip(0.45 + rng.normal(0.0, 0.08, (3, SIDE, SIDE)), 0.0, 1.0)
        taken = np.zeros((SIDE, SIDE), dtype=bool)
        box = (0, 0, SIDE, SIDE)
        for number, kind in enumerate(m for m in marks if m != NOTHING):
            h, w = MARK_SHAPE[kind]
            while True:
                top, left = int(rng.integers(0, SIDE - h + 1)), int(rng.integers(0, SIDE - w + 1))
                if not taken[max(0, top - 3):top + h + 3, max(0, left - 3):left + w + 3].any():
                    break
            taken[top:top + h, left:left + w] = True
            _paint(image, kind, top, left)
            if number == 0:
                box = (top, left, top + h, left + w)
        images.append(image.astype(np.float32))
        labels.append(0 if {RED_SQUARE, BLUE_BAR} & set(marks) else 1)
        flat_kinds.append(marks[0] if len(marks) == 1 else 10 * marks[0] + marks[1])
        boxes.append(box)
    return Pictures(np.stack(images), np.array(labels), np.array(flat_kinds), np.array(boxes))


def training_kinds(per_kind: int = 100) -> list[int]:
    """``per_kind`` pictures of each kind, interleaved."""
    return [RED_SQUARE, BLUE_BAR, GREEN_CROSS, NOTHING] * per_kind


#: The network's input normalisation (the model's preprocessing): the pictures' grey background maps to 0.
MEAN, STD = 0.45, 0.25


def normalise(images: np.ndarray) -> torch.Tensor:
    """Pictures in [0, 1] as the network's input."""
    return (torch.from_numpy(np.asarray(images, dtype=np.float32)) - MEAN) / STD


def _network() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 2),
    )


#: The last convolution's name in the network (the default concept layer).
LAST_CONV = "6"


def _fit(parameters, inputs: torch.Tensor, forward, labels: torch.Tensor, epochs: int, batch: int,
         generator: torch.Generator) -> float:
    """Adam on cross-entropy for at least three epochs, until the training accuracy reaches 0.99; returns it."""
    optimiser = torch.optim.Adam(parameters, lr=0.01)
    for epoch in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch):
            chosen = order[start:start + batch]
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(forward(inputs[chosen]), labels[chosen])
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            accuracy = float((forward(inputs).argmax(1) == labels).float().mean())
        if accuracy >= 0.99 and epoch >= 2:
            break
    return accuracy


def _marks_apart(net: torch.nn.Sequential, x: torch.Tensor, kinds: np.ndarray) -> bool:
    """Whether the channel that adds most to the class-A logit is mostly one channel for red-square pictures,
    another for blue-bar pictures, and rarely the other mark's."""
    with torch.no_grad():
        top = (net[:-1](x) * net[-1].weight[0]).argmax(1).numpy()
    red, blue = top[kinds == RED_SQUARE], top[kinds == BLUE_BAR]
    red_channel, blue_channel = np.bincount(red).argmax(), np.bincount(blue).argmax()
    return bool(red_channel != blue_channel and (red == red_channel).mean() >= 0.8
                and (blue == blue_channel).mean() >= 0.8 and (red == blue_channel).mean() <= 0.1
                and (blue == red_channel).mean() <= 0.1)


def _train(seed: int, data: Pictures) -> torch.nn.Sequential:
    x, y = normalise(data.images), torch.from_numpy(data.labels)
    kinds = torch.from_numpy(np.where(data.labels == 1, 0, data.kinds))  # 0 class B, 1 red, 2 blue
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _network()
        kind_head = torch.nn.Linear(16, 3)
    features = net[:-1]
    accuracy = _fit([*features.parameters(), *kind_head.parameters()], x, lambda v: kind_head(features(v)), kinds,
                    60, 50, generator)
    assert accuracy >= 0.95, f"the planted-concept features tell only {accuracy:.2f} of the kinds apart"
    with torch.no_grad():
        pooled = features(x)
    accuracy = _fit(net[-1].parameters(), pooled, net[-1], y, 200, 400, generator)
    assert accuracy >= 0.95, f"the planted-concept network learnt only {accuracy:.2f} of its training pictures"
    return net


@functools.lru_cache(maxsize=1)
def _trained_state() -> dict:
    """Train on 400 pictures in two steps, so that the last convolution holds a red-square and a blue-bar
    concept apart (the tests need known concepts): the convolutions learn to tell red square, blue bar and
    class B apart (three outputs); then the two-class output is fitted on their frozen pooled features.

    Training is checked: when one channel carries most of the class-A logit for both marks (which a few
    seeds give), the next seed is tried. The tests then ask whether concept relevance finds the marks.
    """
    data = make_pictures(training_kinds(), seed=1)
    for seed in range(3):
        net = _train(seed, data)
        if _marks_apart(net, normalise(data.images), data.kinds):
            return {name: value.clone() for name, value in net.state_dict().items()}
    raise AssertionError("three trainings of the planted-concept network gave no separate concepts for the marks")


def trained_model():
    """The network trained on the planted pictures (once per session), as a fresh model to explain."""
    net = _network()
    net.load_state_dict(_trained_state())
    return loaded(net.eval(), SIDE, class_names=CLASS_NAMES, mean=MEAN, std=STD)


def write_pictures(folder, pictures: Pictures) -> list[Path]:
    """Write ``pictures`` as PNG files into ``folder/A`` and ``folder/B`` (by label); returns the paths in order.

    File names carry the index and the kind (``0007_kind1.png``), so a reference run can be checked against
    the planted marks.
    """
    from PIL import Image

    folder = Path(folder)
    paths = []
    for index, (image, label, kind) in enumerate(zip(pictures.images, pictures.labels, pictures.kinds)):
        path = folder / CLASS_NAMES[int(label)] / f"{index:04d}_kind{int(kind)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.clip(image, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(path)
        paths.append(path)
    return paths
