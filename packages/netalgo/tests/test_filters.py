"""WindowedMaxFilter / WindowedMinFilter (Kathleen Nichols' algorithm, Linux lib/win_minmax.c).

Expected values are traced by hand through the algorithm: a new best (or an equal one)
resets all three samples; a sample better than the 2nd (3rd) choice replaces it; the best
expires once it is more than ``window`` old and the others are promoted; a 2nd choice is
taken after a quarter window without one, a 3rd after half a window.
"""

from __future__ import annotations

import math

import pytest

from netalgo.filters import WindowedMaxFilter, WindowedMinFilter


def test_empty_filter_has_no_value() -> None:
    assert WindowedMaxFilter(10).get() is None
    assert WindowedMinFilter(10).get() is None


def test_max_keeps_best_within_window_and_expires_strictly_after_it() -> None:
    f = WindowedMaxFilter(10)
    assert f.update(10, 0) == 10
    # At t = 10 the sample from t = 0 is exactly one window old: still in (strict >).
    assert f.update(1, 10) == 10
    # At t = 10.001 it is gone; the 1 from t = 10 (2nd choice taken at the quarter mark)
    # and this new 1 remain.
    assert f.update(1, 10.001) == 1


def test_max_quarter_and_half_window_promotions() -> None:
    f = WindowedMaxFilter(10)
    f.update(10, 0)
    # t = 3 > window / 4 with no 2nd choice yet: 8 becomes 2nd and 3rd choice.
    assert f.update(8, 3) == 10
    # t = 6: 6 < 8, but 6 > window / 2 since the best with no separate 3rd choice: 3rd = 6.
    assert f.update(6, 6) == 10
    # t = 10.5: the best (t = 0) expired -> samples shift to (3, 8), (6, 6), (10.5, 5).
    assert f.update(5, 10.5) == 8
    # t = 13.5: (3, 8) is 10.5 old -> (6, 6), (10.5, 5), (13.5, 4).
    assert f.update(4, 13.5) == 6
    # t = 16.5: (6, 6) is 10.5 old -> (10.5, 5), (13.5, 4), (16.5, 1).
    assert f.update(1, 16.5) == 5


def test_without_promotions_a_lower_sample_is_forgotten() -> None:
    f = WindowedMaxFilter(10)
    f.update(10, 0)
    # t = 1 is not past the quarter window: 3 < best is not kept (win_minmax.c does the same).
    assert f.update(3, 1) == 10
    # After the best expires, only the sample just given remains: 2, not 3.
    assert f.update(2, 10.5) == 2


def test_nothing_left_in_window_resets() -> None:
    f = WindowedMaxFilter(10)
    f.update(10, 0)
    f.update(8, 3)
    # t = 20: even the newest stored sample (t = 3) is more than a window old.
    assert f.update(3, 20) == 3


def test_new_best_resets_immediately() -> None:
    f = WindowedMaxFilter(10)
    f.update(5, 0)
    assert f.update(7, 1) == 7
    g = WindowedMinFilter(10)
    g.update(0.2, 0)
    assert g.update(0.1, 1) == 0.1


def test_min_filter_expiry_with_promotion() -> None:
    f = WindowedMinFilter(10)
    f.update(0.1, 0)
    # t = 5 > quarter window: 0.2 is the 2nd and 3rd choice.
    assert f.update(0.2, 5) == 0.1
    # t = 10.1: the 0.1 expired; 0.2 (t = 5) is promoted.
    assert f.update(0.3, 10.1) == 0.2
    # t = 15.2: 0.2 (t = 5) expired too; 0.3 from t = 10.1 remains and beats 0.4.
    assert f.update(0.4, 15.2) == 0.3


def test_reset_replaces_everything() -> None:
    f = WindowedMaxFilter(10)
    f.update(10, 0)
    assert f.reset(1, 1) == 1
    assert f.get() == 1
    assert f.window == 10


@pytest.mark.parametrize("cls", [WindowedMaxFilter, WindowedMinFilter])
def test_bad_input(cls: type[WindowedMaxFilter] | type[WindowedMinFilter]) -> None:
    with pytest.raises(ValueError, match="window"):
        cls(0)
    f = cls(10)
    with pytest.raises(ValueError, match="value"):
        f.update(math.nan, 0)
    with pytest.raises(ValueError, match="t"):
        f.update(1, math.inf)
    f.update(1, 5)
    with pytest.raises(ValueError, match="t went backwards"):
        f.update(1, 4)
    assert f.get() == 1


def test_time_going_backwards_is_rejected_after_an_unstored_sample() -> None:
    f = WindowedMaxFilter(10)
    f.update(10, 0)
    f.update(3, 1)  # not stored: below the best, before the quarter window
    with pytest.raises(ValueError, match="t went backwards"):
        f.update(4, 0.5)
