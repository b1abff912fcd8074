"""Elo fit: recovers planted ratings, ignores game order, stays finite for a clean sweep."""

from __future__ import annotations

import numpy as np

from emoscope.core.elo import elo_ratings, win_probability


def test_recovers_planted_ratings_from_expected_outcomes() -> None:
    true = np.array([1900.0, 1650.0, 1500.0, 1400.0, 1050.0])
    true += 1500 - true.mean()
    games = [(i, j, win_probability(true[i], true[j])) for i in range(5) for j in range(5) if i != j]
    got = elo_ratings(5, games, l2=0.0)
    np.testing.assert_allclose(got, true, atol=0.5)


def test_order_of_games_does_not_matter() -> None:
    rng = np.random.default_rng(0)
    games = [(int(a), int(b), float(rng.random())) for a, b in rng.integers(0, 6, size=(40, 2)) if a != b]
    a = elo_ratings(6, games)
    b = elo_ratings(6, list(reversed(games)))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_clean_sweep_stays_finite_and_ordered() -> None:
    games = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0)]
    r = elo_ratings(3, games)
    assert np.isfinite(r).all() and r[0] > r[1] > r[2] and abs(r.mean() - 1500) < 1e-6
