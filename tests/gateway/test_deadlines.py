"""Business days: weekends, Mexican holidays and configured extra days are not counted."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import deadlines

CAL = deadlines.calendar("America/Mexico_City", [])


def test_two_business_days_skip_the_weekend() -> None:
    friday = datetime(2026, 11, 6, 16, 0, tzinfo=UTC)  # 10:00 in Mexico City
    assert deadlines.add_business_days(friday, 2, CAL) == datetime(2026, 11, 11, 5, 59, 59, tzinfo=UTC)


def test_revolution_day_is_not_worked() -> None:
    friday = datetime(2026, 11, 13, 16, 0, tzinfo=UTC)  # Monday 16 is Día de la Revolución
    assert deadlines.add_business_days(friday, 2, CAL) == datetime(2026, 11, 19, 5, 59, 59, tzinfo=UTC)


def test_extra_days_off_from_config() -> None:
    cal = deadlines.calendar("America/Mexico_City", ["2026-11-24"])
    monday = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert deadlines.add_business_days(monday, 1, cal) == datetime(2026, 11, 26, 5, 59, 59, tzinfo=UTC)


def test_days_left_turn_negative_past_the_deadline() -> None:
    deadline = datetime(2026, 11, 19, 5, 59, 59, tzinfo=UTC)
    assert deadlines.business_days_left(datetime(2026, 11, 13, 16, tzinfo=UTC), deadline, CAL) == 2
    assert deadlines.business_days_left(datetime(2026, 11, 20, 16, tzinfo=UTC), deadline, CAL) == -2
