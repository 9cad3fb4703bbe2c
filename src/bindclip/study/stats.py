"""Intervals over seeds: scipy's percentile bootstrap for means, Wilson's interval for rates.

Eight seeds are few, so every figure a study reports carries its 95 % interval and the per-seed
values; a reader sees when an interval is too wide to tell two variants apart.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE, RESAMPLES = 0.95, 10_000


def mean_interval(values: list[float], seed: int = 0) -> dict:
    """{"mean", "lo", "hi"}: the mean over seeds with its 95 % percentile-bootstrap interval."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return {"mean": round(float(v.mean()), 2), "lo": None, "hi": None}
    ci = stats.bootstrap(
        (v,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return {"mean": round(float(v.mean()), 2), "lo": round(float(ci.low), 2), "hi": round(float(ci.high), 2)}


def paired_difference(values: list[float], reference: list[float], seed: int = 0) -> dict:
    """Mean of (value - reference) over seeds, paired by seed (a seed gives both variants the same
    batches), with its 95 % bootstrap interval."""
    d = np.asarray(values, dtype=float) - np.asarray(reference, dtype=float)
    return mean_interval(list(d), seed)


def rate_interval(k: int, n: int) -> dict:
    """{"k", "n", "rate", "lo", "hi"}: a share of runs with its 95 % Wilson score interval."""
    ci = stats.binomtest(k, n).proportion_ci(CONFIDENCE, method="wilson")
    return {"k": k, "n": n, "rate": round(k / n, 3), "lo": round(float(ci.low), 3), "hi": round(float(ci.high), 3)}


def claim_verdict(difference: dict, direction: str, margin: float = 0.0) -> str:
    """ "reproduced", "not reproduced" or "inconclusive" from a paired difference's 95 % interval: a
    "higher" ("lower") claim holds when the interval lies above (below) zero and fails when it lies at or
    below (above) it; a "keeps" claim (no loss beyond `margin` points) holds when the interval lies above
    -margin and fails when it lies below. One seed has no interval: inconclusive."""
    lo, hi = difference.get("lo"), difference.get("hi")
    if lo is None:
        return "inconclusive"
    holds, fails = {
        "higher": (lo > 0, hi <= 0),
        "lower": (hi < 0, lo >= 0),
        "keeps": (lo > -margin, hi < -margin),
    }[direction]
    return "reproduced" if holds else "not reproduced" if fails else "inconclusive"
