import pytest

from bindclip.study.stats import claim_verdict, mean_interval, paired_difference, rate_interval


def test_wilson_interval_of_a_rate():
    r = rate_interval(6, 8)
    assert (r["k"], r["n"], r["rate"]) == (6, 8, 0.75)
    assert r["lo"] == pytest.approx(0.409, abs=1e-3) and r["hi"] == pytest.approx(0.929, abs=1e-3)  # Wilson, z 1.96
    none, every = rate_interval(0, 8), rate_interval(8, 8)
    assert none["lo"] == 0.0 and 0.3 < none["hi"] < 0.35 and every["hi"] == 1.0 and 0.65 < every["lo"] < 0.7


def test_bootstrap_interval_of_a_mean():
    values = [99.5, 100, 47, 98, 99, 52, 100, 97.5]
    m = mean_interval(values)
    assert m["mean"] == pytest.approx(86.62, abs=0.01)
    assert m["lo"] < m["mean"] < m["hi"] <= 100 and m["hi"] - m["lo"] > 15  # two collapses widen it
    assert mean_interval(values) == m  # seeded: the same interval every time
    assert mean_interval([100.0] * 8) == {"mean": 100.0, "lo": 100.0, "hi": 100.0}
    assert mean_interval([50.0]) == {"mean": 50.0, "lo": None, "hi": None}


def test_paired_difference_uses_the_pairs():
    ref = [40.0, 90.0, 60.0, 100.0]
    shifted = [v + 5 for v in ref]  # every seed 5 points better: no spread at all once paired
    assert paired_difference(shifted, ref) == {"mean": 5.0, "lo": 5.0, "hi": 5.0}


@pytest.mark.parametrize(
    ("difference", "direction", "margin", "verdict"),
    [
        ({"mean": 9.0, "lo": 4.0, "hi": 14.0}, "higher", 0.0, "reproduced"),
        ({"mean": 1.0, "lo": -2.0, "hi": 4.0}, "higher", 0.0, "inconclusive"),
        ({"mean": -3.0, "lo": -5.0, "hi": 0.0}, "higher", 0.0, "not reproduced"),  # at best no gain
        ({"mean": -3.0, "lo": -5.0, "hi": -1.0}, "lower", 0.0, "reproduced"),
        ({"mean": 2.0, "lo": 0.0, "hi": 4.0}, "lower", 0.0, "not reproduced"),
        ({"mean": -0.5, "lo": -1.5, "hi": 0.5}, "keeps", 2.0, "reproduced"),  # a loss, but within the margin
        ({"mean": -1.5, "lo": -3.0, "hi": 0.0}, "keeps", 2.0, "inconclusive"),
        ({"mean": -4.0, "lo": -6.0, "hi": -2.5}, "keeps", 2.0, "not reproduced"),
        ({"mean": 30.0, "lo": None, "hi": None}, "higher", 0.0, "inconclusive"),  # one seed: no interval
    ],
)
def test_a_claims_verdict_follows_from_its_interval(difference, direction, margin, verdict):
    assert claim_verdict(difference, direction, margin) == verdict
