"""Values as a request states them, and the check that a request states every value of its calls.

A value has several spoken forms: a date 2025-03-14 may be written "March 14, 2025", "14 March 2025" or as is; a
time 14:30 as "2:30 pm"; a small count 2 as "two"; an enum value premium_economy as "premium economy".
`say_value` picks one of them for the schema generator; `ungrounded_values` accepts any of them, so a request
(generated, paraphrased by a model, or proposed by one) is kept only when every argument can be read back from it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from typing import Any

ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve"]
# Date layouts a description may ask for ("Departure date, DD/MM/YYYY"), as strftime formats.
DATE_FORMATS = {"YYYY-MM-DD": "%Y-%m-%d", "DD/MM/YYYY": "%d/%m/%Y", "MM/DD/YYYY": "%m/%d/%Y",
                "DD-MM-YYYY": "%d-%m-%Y", "MM-DD-YYYY": "%m-%d-%Y", "YYYY/MM/DD": "%Y/%m/%d",
                "DD.MM.YYYY": "%d.%m.%Y", "YYYYMMDD": "%Y%m%d"}
CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(Z|[+-]\d{2}:?\d{2})?$")
_IDENTIFIER = re.compile(r"^[A-Za-z]+(?:[_-][A-Za-z]+)+$")  # premium_economy, child-seat


def date_format_of(text: str) -> str | None:
    """The strftime format a description or pattern asks dates in ("DD/MM/YYYY" -> "%d/%m/%Y"), or None."""
    upper = text.upper()
    for layout, fmt in DATE_FORMATS.items():
        if layout in upper:
            return fmt
    return None


def dates_in(value: str) -> list[dt.date]:
    """Every date a string can be read as, in the layouts of `DATE_FORMATS` (03/04/2025 is two)."""
    found = []
    for fmt in DATE_FORMATS.values():
        try:
            day = dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        if day not in found:
            found.append(day)
    return found


def date_forms(day: dt.date) -> list[str]:
    """Ways a person writes a day, the most common first: 'March 14, 2025', '14 March 2025', ..."""
    month = MONTHS[day.month - 1]
    return [f"{month} {day.day}, {day.year}", f"{day.day} {month} {day.year}", f"{month[:3]} {day.day}, {day.year}",
            f"{month} {day.day}{_ordinal(day.day)}, {day.year}"]


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def time_forms(value: str) -> list[str]:
    """'14:30' -> ['14:30', '2:30 pm', '2:30pm', '2:30 PM']; the zone of '14:30Z' is 'UTC'."""
    match = CLOCK.match(value)
    if not match:
        return []
    hour, minute = int(match[1]), match[2]
    clock = f"{hour:02d}:{minute}"
    twelve = f"{hour % 12 or 12}:{minute}"
    half = "am" if hour < 12 else "pm"
    return [clock, f"{hour}:{minute}", f"{twelve} {half}", f"{twelve}{half}", f"{twelve} {half.upper()}"]


def _zone_forms(zone: str | None) -> list[str]:
    if not zone:
        return []
    return ["UTC", "GMT", zone] if zone in ("Z", "+00:00", "+0000") else [zone, f"UTC{zone}"]


def say_value(value: Any, rng: random.Random, *, words: bool = False, spaced: bool = False) -> str:
    """The value as a request states it: dates and times often spelled out, free text in quotes, identifiers with
    spaces, small counts in words.

    Args:
        value: An argument value.
        rng: Chooses among the forms.
        words: Small counts may be written as words ("two nights"; not for "latitude 2").
        spaced: An identifier may be written with spaces ("premium economy" for an enum's premium_economy; never
            for an id such as evt_4f).
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and words and 1 <= value <= 10 and rng.random() < 0.35:
        return NUMBER_WORDS[value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 250, not 250.0
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "none"
    if isinstance(value, str):
        return _say_string(value, rng, spaced)
    if isinstance(value, list):
        parts = [say_value(v, rng, words=words, spaced=spaced) for v in value]
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + (", and " if len(parts) > 2 and rng.random() < 0.3 else " and ") + parts[-1]
    return json.dumps(value)


def _say_string(value: str, rng: random.Random, spaced: bool) -> str:
    if ISO_DATE.match(value):
        days = dates_in(value)
        roll = rng.random()
        if days and roll < 0.7:
            form = rng.choice(date_forms(days[0])[:3]) if roll < 0.6 else date_forms(days[0])[0]
            return f"{WEEKDAYS[days[0].weekday()]}, {form}" if roll >= 0.6 else form
        return value
    days = dates_in(value)
    if len(days) == 1 and rng.random() < 0.5:  # another layout, unambiguous: say the day itself
        return date_forms(days[0])[0]
    stamp = split_datetime(value)
    if stamp:
        day, clock, zone = stamp
        if rng.random() < 0.7:
            spoken = f"{date_forms(day)[0]} at {rng.choice(time_forms(clock)[:3])}"
            return spoken + (f" {_zone_forms(zone)[0]}" if zone else "")
        return value
    if CLOCK.match(value) and rng.random() < 0.4:
        match = CLOCK.match(value)
        return time_forms(value)[2] + (f" {_zone_forms(match[4])[0]}" if match[4] else "")
    if spaced and _IDENTIFIER.match(value) and rng.random() < 0.7:
        return re.sub(r"[_-]", " ", value)
    if is_free_text(value):
        return f'"{value}"'
    return value


def split_datetime(value: str) -> tuple[dt.date, str, str | None] | None:
    """(day, 'HH:MM', zone) of an ISO date-time such as 2025-03-14T09:30:00Z, or None."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", value)
    if not match or not CLOCK.match(match[2]):
        return None
    try:
        return dt.date.fromisoformat(match[1]), match[2], match[3]
    except ValueError:
        return None


def is_free_text(value: str) -> bool:
    """Multi-word text that would blur into the sentence without quotes ("remote work", "Lunch is on me.")."""
    if " " not in value.strip():
        return False
    if re.search(r"[.,!?;:]", value) or len(value.split()) > 3:
        return not re.fullmatch(r"[A-Z][\w .]+, [A-Z]{2}|\d+\w* [\w ]+, [A-Z][\w ]+", value)  # Boston, MA; 12 Oak St, X
    return not all(w[:1].isupper() or w[:1].isdigit() for w in value.split())  # "Buenos Aires" needs no quotes


def _found(form: str, text: str) -> bool:
    """`form` appears in `text` as a whole (case-insensitive): "es" is not found in "yes"."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(form.lower())}(?![A-Za-z0-9])", text) is not None


def _number_found(value: int | float, text: str) -> bool:
    forms = [str(value)]
    if isinstance(value, float) and value.is_integer():
        forms.append(str(int(value)))
    if isinstance(value, int) and 0 <= value < len(NUMBER_WORDS):
        forms.append(NUMBER_WORDS[value])
    for form in forms:
        if form.isalpha():
            # "one" as in "one-way" or "one of" is no count
            if re.search(rf"\b{form}\b(?!-)(?! of\b)", text):
                return True
        elif re.search(rf"(?<![\d.]){re.escape(form)}(?![\d]|\.\d)", text):
            return True
        elif len(form) > 3 and form.isdigit() and re.search(rf"(?<![\d.]){int(form):,}(?![\d])", text):
            return True
    return False


def _string_found(value: str, text: str) -> bool:
    value = value.strip()
    if _found(value, text):
        return True
    if _IDENTIFIER.match(value) and _found(re.sub(r"[_-]", " ", value), text):
        return True
    stamp = split_datetime(value)
    if stamp:
        day, clock, zone = stamp
        days_ok = _found(day.isoformat(), text) or any(_found(f, text) for f in date_forms(day))
        zone_ok = not zone or any(_found(z, text) for z in _zone_forms(zone))
        return days_ok and zone_ok and any(_found(f, text) for f in time_forms(clock))
    if CLOCK.match(value):
        zone = CLOCK.match(value)[4]
        zone_ok = not zone or any(_found(z, text) for z in _zone_forms(zone))
        return zone_ok and any(_found(f, text) for f in time_forms(value))
    return any(_found(form, text) for day in dates_in(value) for form in date_forms(day))


def stated_forms(value: str, query: str) -> list[str]:
    """The forms in which a request states a date or a time value ("14 March 2025" for 2025-03-14, "2:30 pm" for
    14:30): the value itself, its ISO day, then in the order of `date_forms` / `time_forms`; [] for other values, a
    date the request does not state, or one whose layout reads as two days (03/04/2025).

    Args:
        value: A date (ISO, or another layout of `DATE_FORMATS` read as one day) or a time ("HH:MM").
        query: The request.
    """
    text = query.lower()
    if CLOCK.match(value):
        return [form for form in dict.fromkeys(time_forms(value)) if _found(form, text)]
    days = dates_in(value)
    if len(days) != 1:  # not a date, or one read as two days (03/04/2025)
        return []
    return [form for form in dict.fromkeys((value, days[0].isoformat(), *date_forms(days[0]))) if _found(form, text)]


def ungrounded_values(query: str, arguments: Any) -> list[Any]:
    """Argument values a request does not state (strings and numbers; booleans are phrased too freely to check).

    Any spoken form counts (see the module's docstring); text is compared case-insensitively, as whole words.

    Args:
        query: The request.
        arguments: A call's arguments (nested objects and arrays are searched leaf by leaf).
    """
    text = query.lower()
    missing = []
    leaves = arguments.values() if isinstance(arguments, dict) else arguments if isinstance(arguments, list) else []
    for value in leaves:
        if isinstance(value, (dict, list)):
            missing += ungrounded_values(query, value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            if not _number_found(value, text):
                missing.append(value)
        elif isinstance(value, str) and not _string_found(value, text):
            missing.append(value)
    return missing
