from __future__ import annotations

import numpy as np
import pytest

from emoscope.core.scores import score


def test_score_kinds() -> None:
    h = np.array([[3.0, 4.0], [0.0, 2.0]])
    v = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(score(h, v, "projection"), [[3, 4], [0, 2]])
    np.testing.assert_allclose(score(h, v, "cosine"), [[0.6, 0.8], [0, 1]])
    np.testing.assert_allclose(score(h, v, "z", np.array([1.0, 2.0]), np.array([2.0, 1.0])), [[1, 2], [-0.5, 0]])
    with pytest.raises(ValueError, match="unknown score kind"):
        score(h, v, "bogus")
    with pytest.raises(ValueError, match="neutral"):
        score(h, v, "z")
