"""Cron schedules: five fields, read by Celery's own crontab parser, and the next time one fires.

Celery already reads cron fields (ranges, steps, lists, names such as mon-fri or jan),
so no other dependency is needed; the next time is found here, a day at a time, with
cron's rule that a restricted day of the month and day of the week both count (either
matches). All times are UTC.
"""

from datetime import datetime, timedelta

from celery.schedules import ParseException, crontab

MAX_LENGTH = 100
_FIELDS = ("minute", "hour", "day of the month", "month", "day of the week")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_SEARCH_DAYS = 366 * 8  # a leap day on a given weekday comes back within 28 years; Feb 29 within 8


class InvalidSchedule(ValueError):
    pass


def parse(text: str) -> crontab:
    text = " ".join(str(text).split())
    if len(text) > MAX_LENGTH:
        raise InvalidSchedule(f"A schedule has at most {MAX_LENGTH} characters.")
    fields = _MACROS.get(text, text).split(" ")
    if len(fields) != 5:
        raise InvalidSchedule(
            f"A schedule has five fields (minute hour day-of-month month day-of-week), such as "
            f"'*/5 * * * *'; '{text[:40]}' has {len(fields) if text else 0}."
        )
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    for index, (name, value) in enumerate(zip(names, fields, strict=True)):
        try:
            crontab(**{name: value})
        except (ValueError, ParseException) as exc:
            raise InvalidSchedule(f"The {_FIELDS[index]} field '{value[:20]}' is not valid: {exc}") from None
    try:
        schedule = crontab(**dict(zip(names, fields, strict=True)))
    except (ValueError, ParseException) as exc:
        raise InvalidSchedule(f"The schedule '{text}' is not valid: {exc}") from None
    if next_after(schedule, datetime(2000, 1, 1)) is None:
        raise InvalidSchedule(f"The schedule '{text}' never comes (such as 30 February).")
    return schedule


def normal(text: str) -> str:
    """The schedule as it is stored: one space between fields."""
    parse(text)
    return " ".join(str(text).split())


def _day_matches(schedule: crontab, day: datetime) -> bool:
    if day.month not in schedule.month_of_year:
        return False
    weekday = day.isoweekday() % 7  # cron and Celery count Sunday as 0
    every_date = schedule.day_of_month == set(range(1, 32))
    every_weekday = schedule.day_of_week == set(range(7))
    if every_date or every_weekday:
        return day.day in schedule.day_of_month and weekday in schedule.day_of_week
    return day.day in schedule.day_of_month or weekday in schedule.day_of_week


def next_after(schedule: crontab, moment: datetime) -> datetime | None:
    """The first time the schedule fires strictly after `moment` (to the minute), or None."""
    start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for offset in range(_SEARCH_DAYS):
        current = day + timedelta(days=offset)
        if not _day_matches(schedule, current):
            continue
        for hour in sorted(schedule.hour):
            for minute in sorted(schedule.minute):
                candidate = current.replace(hour=hour, minute=minute)
                if candidate >= start:
                    return candidate
    return None
