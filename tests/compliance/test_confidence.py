"""The Clopper–Pearson interval without scipy, checked against scipy and the reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta

from probe.compliance.confidence import clopper_pearson, clopper_pearson_pure, regularized_beta


def _scipy(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    alpha = 1 - level
    lower = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lower, upper


class TestAgainstScipy:
    """Same bounds as scipy.stats.beta.ppf to 1e-9 over a wide grid: the pure backend (what
    a router without scipy runs) and whichever backend ``clopper_pearson`` uses here."""

    @settings(max_examples=200, deadline=None)
    @given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_bounds(self, kn: tuple[int, int]) -> None:
        k, n = kn
        theirs = _scipy(k, n)
        assert clopper_pearson_pure(k, n) == pytest.approx(theirs, abs=1e-9)
        assert clopper_pearson(k, n) == pytest.approx(theirs, abs=1e-9)

    @pytest.mark.parametrize(("a", "b", "x"), [(1, 1, 0.3), (6, 25, 0.1), (200, 3, 0.99)])
    def test_regularized_beta(self, a, b, x) -> None:
        assert regularized_beta(a, b, x) == pytest.approx(float(beta.cdf(x, a, b)), abs=1e-12)


class TestReferenceFigures:
    """measurement-methodology §5: 6 of 30 failing, one-sided 95 % lower bound 9.1 %."""

    def test_six_of_thirty(self) -> None:
        for backend in (clopper_pearson, clopper_pearson_pure):
            lower_one_sided, _ = backend(6, 30, level=0.90)
            assert round(lower_one_sided, 3) == 0.091

    def test_edges(self) -> None:
        assert clopper_pearson(0, 0) == (0.0, 1.0)
        lower, upper = clopper_pearson(0, 30)
        assert lower == 0.0
        assert upper == pytest.approx(1 - 0.025 ** (1 / 30), abs=1e-12)
        with pytest.raises(ValueError, match="failing <= tests"):
            clopper_pearson(31, 30)
