"""The one fitting loop of the binding analysis: Adam, the last epoch kept (no selection on test scenes).
Probes and binding-function families differ only in what they fit.

Two ways to end a fit. A fixed number of epochs under a cosine schedule (the papers' loop), or
`Plateau`: fit until the training loss stops improving, so a slow family is not judged undertrained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Plateau:
    """Train until the training loss stops improving. torch's ReduceLROnPlateau halves the rate after
    `patience` epochs without a relative improvement of `threshold` in the epoch's mean loss; the fit
    has converged once the rate has been halved `halvings` times (each plateau outlasted at a smaller
    step), or once the loss is below `floor` (the training rows are reproduced — on standardised targets
    1e-3 is a training R^2 of about 0.999 — and a loss still falling geometrically towards zero never
    plateaus in relative terms). Hitting the epoch cap first is reported as not converged."""

    patience: int = 10
    threshold: float = 1e-3
    halvings: int = 4
    floor: float = 1e-3


def fit(
    parameters,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    n_rows: int,
    epochs: int,
    lr: float,
    batch_size: int | None = None,
    plateau: Plateau | None = None,
) -> dict:
    """Minimise `loss_of(rows)` over training rows 0..n_rows-1: full batch as the papers, or shuffled
    minibatches of `batch_size` (many more updates per pass: a 64,000-scene text set converges in a few
    passes instead of thousands of full-batch epochs). With `plateau`, `epochs` is a cap and the rate
    is constant until the loss plateaus. Returns the epochs run, the last epoch's mean training loss
    and whether the fit converged (None without `plateau`)."""
    params = list(parameters)
    batch = batch_size or n_rows
    steps_per_epoch = -(-n_rows // batch)
    opt = torch.optim.Adam(params, lr=lr)
    if plateau:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=plateau.patience, threshold=plateau.threshold
        )
        floor = lr * 0.5**plateau.halvings * (1 + 1e-6)  # the rate after `halvings` halvings
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    epoch_loss, converged, ran = float("nan"), (False if plateau else None), 0
    while ran < epochs:
        ran += 1
        order = torch.randperm(n_rows) if batch < n_rows else torch.arange(n_rows)
        total = 0.0
        for i in range(0, n_rows, batch):
            loss = loss_of(order[i : i + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * min(batch, n_rows - i)
            if not plateau:
                sched.step()
        epoch_loss = total / n_rows
        if plateau:
            sched.step(epoch_loss)
            if opt.param_groups[0]["lr"] <= floor or epoch_loss < plateau.floor:
                converged = True
                break
    return {"epochs": ran, "train_loss": round(epoch_loss, 6), "converged": converged}
