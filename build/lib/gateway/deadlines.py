"""Business-day arithmetic for held masivos: weekends, Mexican holidays and extra days off.

000 Anexo A: "la DGTIT se compromete a responder dentro de los siguientes dos días hábiles".
Trusts a Calendar built from [approval] (the `holidays` library's Mexico table plus configured
extra non-working days, e.g. a state holiday or the December recess). Pure: the caller passes
the time in (style rule 27); hands datetimes back in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


@dataclass(frozen=True)
class Calendar:
    """Which days are worked, in which time zone the working day is counted."""

    timezone: str = "America/Mexico_City"
    extra: frozenset[date] = field(default_factory=frozenset)

    def is_working(self, day: date) -> bool:
        # Ley Federal del Trabajo art. 74 days, as the holidays library lists them for MX
        return day.weekday() < 5 and day not in _mexico(day.year) and day not in self.extra


def calendar(timezone: str, extra_days: Iterable[str]) -> Calendar:
    """A Calendar from config values (ISO dates); raises ValueError on a bad date or zone."""
    ZoneInfo(timezone)
    return Calendar(timezone, frozenset(date.fromisoformat(d) for d in extra_days))


_CACHE: dict[int, holidays.HolidayBase] = {}


def _mexico(year: int) -> holidays.HolidayBase:
    table = _CACHE.get(year)
    if table is None:
        table = _CACHE[year] = holidays.Mexico(years=year)  # type: ignore[attr-defined]
    return table


def add_business_days(start: datetime, days: int, cal: Calendar) -> datetime:
    """The end (23:59:59 local) of the ``days``-th working day after ``start``'s day."""
    zone = ZoneInfo(cal.timezone)
    day = start.astimezone(zone).date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if cal.is_working(day):
            remaining -= 1
    end = datetime.combine(day, time(23, 59, 59), tzinfo=zone)
    return end.astimezone(UTC)


def business_days_left(now: datetime, deadline: datetime, cal: Calendar) -> int:
    """Working days from ``now``'s day to ``deadline``'s day; negative once past it."""
    zone = ZoneInfo(cal.timezone)
    today, last = now.astimezone(zone).date(), deadline.astimezone(zone).date()
    step = 1 if last >= today else -1
    count, day = 0, today
    while day != last:
        day += timedelta(days=step)
        count += step if cal.is_working(day) else 0
    return count if now <= deadline else min(count, -1)
