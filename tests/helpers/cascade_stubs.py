"""Stubs for cascade tests: a model whose logits are pixels, and an attack that breaks the samples
it is told to, so that which stage attacks and breaks what can be pinned by hand."""

import torch

from lightning_pse.attacks import Attack


class FirstPixels(torch.nn.Module):
    """Three classes, the logits the first three pixels of the first row: ``Z = x[:, 0, 0, :3]``."""

    def forward(self, x):
        return x[:, 0, 0, :3]


class BreaksMarked(Attack):
    """Breaks the samples whose marker pixel ``x[:, 0, 3, 3]`` is one of ``marks`` (moves their class
    0 logit to 0, within ε = 1), and records which markers it was given."""

    def __init__(self, marks: set[float]) -> None:
        super().__init__(seed=0)
        self.eps, self.marks, self.seen = 1.0, marks, []

    def perturb(self, model, x, y, target, mask):
        marker = x[:, 0, 3, 3]
        self.seen.append(sorted(round(m, 2) for m in marker.tolist()))
        hit = torch.tensor([round(m, 2) in self.marks for m in marker.tolist()])
        x_adv = x.clone()
        x_adv[hit, 0, 0, 0] = 0.0
        return x_adv


def images(logits: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 1, 4, 4]`` images whose first three pixels are ``logits`` and whose marker is 0.1·(i + 1);
    every label 0."""
    x = torch.zeros(len(logits), 1, 4, 4)
    for i, row in enumerate(logits):
        x[i, 0, 0, :3] = torch.tensor(row)
        x[i, 0, 3, 3] = round(0.1 * (i + 1), 2)
    return x, torch.zeros(len(logits), dtype=torch.long)


def held(attack, result, y):
    return result.logits.argmax(dim=1) == y
