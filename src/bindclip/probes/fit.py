"""The one fitting loop of the binding analysis: Adam with a cosine schedule, the last epoch kept (no
selection on test scenes). Probes and binding-function families differ only in what they fit."""

from __future__ import annotations

from collections.abc import Callable

import torch


def fit(
    parameters,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    n_rows: int,
    epochs: int,
    lr: float,
    batch_size: int | None = None,
) -> None:
    """Minimise `loss_of(rows)` over training rows 0..n_rows-1: full batch as the papers, or shuffled
    minibatches of `batch_size` (many more updates per pass: a 64,000-scene text set converges in a few
    passes instead of thousands of full-batch epochs)."""
    batch = batch_size or n_rows
    opt = torch.optim.Adam(parameters, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * -(-n_rows // batch))
    for _ in range(epochs):
        order = torch.randperm(n_rows) if batch < n_rows else torch.arange(n_rows)
        for i in range(0, n_rows, batch):
            loss = loss_of(order[i : i + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
