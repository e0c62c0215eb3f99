"""How a request mentions each argument of a call, the way people do: "from JPY to USD", "in Tokyo", "on March 3,
2025", "for 4 nights", "with at most one stop", "sorted by price", rather than "where the to currency is USD".

A parameter's role comes from its name, its description and its value (`tasks.vocab.string_kind`, `pair_side`);
each role has a few phrasings. `argument_parts` turns a call's arguments into `Part`s; `tasks.phrasing` puts them
into sentences. The choices go through a `Chooser`, so the same argument is worded the same way in every call of
one request ("weather in Paris and in Tokyo").
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from .spoken import CLOCK, ISO_DATE, dates_in, is_free_text, say_value, split_datetime
from .vocab import MONEY_WORDS, humanize, pair_side, singular, string_kind, words_of

# Where a part goes in the sentence: the object, the route, the place, the time, counts, people and text, options.
OBJECT, ROUTE, PLACE, TIME, COUNT, WHO, OPTION, LAST = range(8)


@dataclass
class Part:
    """One mention: its text, its place in the sentence, the argument keys it states, and (for dates and places)
    the form that can open the sentence ("On March 3, 2025")."""

    text: str
    order: int
    keys: tuple[str, ...]
    lead: str | None = None
    target: str | None = None  # a currency or unit converted into ("USD"): "How much is 50 EUR in USD?"


class Chooser:
    """Deterministic choices keyed by the argument (and its value), so one request words one argument one way."""

    def __init__(self, seed: float):
        self.seed = seed

    def rng(self, *key: Any) -> random.Random:
        return random.Random(f"{self.seed}|{json.dumps(key, sort_keys=True, default=str)}")

    def pick(self, key: str, options: list[str]) -> str:
        return options[self.rng(key).randrange(len(options))]

    def say(self, key: str, value: Any, *, words: bool = False, spaced: bool = False) -> str:
        return say_value(value, self.rng(key, value), words=words, spaced=spaced)


_COUNT_NOUNS = {"nights", "days", "guests", "adults", "children", "kids", "rooms", "seats", "people", "passengers",
                "tickets", "servings", "portions", "hours", "minutes", "weeks", "months", "years", "items", "copies",
                "units", "players", "pages", "stops", "points", "results", "beds", "bedrooms", "bathrooms", "stars",
                "travelers", "travellers", "participants", "attendees", "members", "questions", "words", "records",
                "rows", "entries", "images", "photos", "songs", "tracks", "episodes", "slots", "sessions", "times"}
_LIMITS = {"limit", "top", "k", "n", "count", "num", "number", "size"}
_ENUM_PHRASES = {
    "unit": ["in {v}"], "units": ["in {v}"], "scale": ["in {v}"], "system": ["in {v}"],
    "format": ["as {v}", "in {v} format"], "sort": ["sorted by {v}"], "by": ["sorted by {v}"],
    "method": ["by {v}", "via {v}"], "channel": ["via {v}"], "via": ["via {v}"], "mode": ["in {v} mode"],
    "language": ["in {v}"], "lang": ["in {v}"], "category": ["in {v}", "in the {v} category"],
    "purpose": ["for {v}"], "reason": ["for {v}"], "priority": ["with {v} priority", "at {v} priority"],
    "level": ["at {v} level"], "status": ["with status {v}", "that are {v}"], "type": ["of type {v}"],
    "kind": ["of type {v}"], "cabin": ["in {v} class"], "class": ["in {v} class"],
    "room": ["with a {v} room", "in a {v} room"], "bed": ["with a {v} bed"], "size": ["in size {v}"],
    "color": ["in {v}"], "colour": ["in {v}"], "genre": ["in the {v} genre"], "cuisine": ["serving {v} food"],
    "difficulty": ["at {v} difficulty"], "period": ["for the {v} period"], "interval": ["at a {v} interval"],
    "frequency": ["{v}"], "visibility": ["as {v}"], "direction": ["going {v}"], "gender": ["({v})"],
}


def _fill(template: str, spoken: str) -> str:
    return template.replace("{v}", spoken)


def article(word: str) -> str:
    """'a' or 'an' for a word ("an economy", "a double"; codes by their letter names: "an FR")."""
    if re.fullmatch(r"[A-Z]{2,4}", word):
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    return "an" if word[:1].lower() in "aeiou" else "a"


def gerund(verb: str) -> str:
    """'include' -> 'including', 'run' -> 'running', 'notify' -> 'notifying'."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if len(verb) <= 4 and re.search(r"[^aeiou][aeiou][^aeiouwxy]$", verb):
        return verb + verb[-1] + "ing"
    return verb + "ing"


_BOOL_VERBS = {"include", "send", "notify", "show", "return", "use", "enable", "allow", "add", "save", "skip",
               "ignore", "exclude", "hide", "delete", "remove", "confirm", "overwrite", "share", "publish", "cache",
               "force", "search", "fetch", "expand", "keep", "verify", "validate", "translate", "sort", "round"}


class _Context:
    """What a call's mentions need: the chooser, the tool's object phrase (to avoid "for products for ...")."""

    def __init__(self, chooser: Chooser, obj: str = ""):
        self.chooser = chooser
        self.obj = obj


def argument_parts(arguments: dict, properties: dict, chooser: Chooser, *, obj: str = "", skip: set | None = None
                   ) -> list[Part]:
    """The mentions of a call's arguments (those in `skip` are already said elsewhere), in sentence order.

    Args:
        arguments: The call's arguments.
        properties: The JSON Schema properties of the call's parameters (for descriptions and enums).
        chooser: Choices of this request.
        obj: The object phrase of the tool's action ("one-way flights"): a mention does not repeat its preposition.
        skip: Argument keys not to mention.
    """
    ctx = _Context(chooser, obj)
    skip = set(skip or ())
    parts: list[Part] = []
    lat = next((k for k in arguments if set(words_of(k)) & {"latitude", "lat"} and k not in skip), None)
    lon = next((k for k in arguments if set(words_of(k)) & {"longitude", "lon", "lng"} and k not in skip), None)
    if lat and lon and _is_number(arguments[lat]) and _is_number(arguments[lon]):
        y, x = arguments[lat], arguments[lon]
        text = chooser.pick("coordinates", [f"at {y}, {x}", f"at latitude {y} and longitude {x}",
                                            f"for the coordinates {y}, {x}", f"at {y}, {x}"])
        parts.append(Part(text, PLACE, (lat, lon), lead=_cap(text)))
        skip |= {lat, lon}
    first = next((k for k in arguments if string_kind(k) == "first_name" and k not in skip), None)
    last = next((k for k in arguments if string_kind(k) == "last_name" and k not in skip), None)
    if first and last and isinstance(arguments[first], str) and isinstance(arguments[last], str):
        parts.append(Part(f"for {arguments[first]} {arguments[last]}", WHO, (first, last)))
        skip |= {first, last}
    for key, value in arguments.items():
        if key in skip:
            continue
        schema = properties.get(key) if isinstance(properties.get(key), dict) else {}
        part = mention(key, value, schema, ctx)
        if part is not None:
            parts.append(part)
    parts.sort(key=lambda p: p.order)
    return parts


def join_parts(parts: list[Part]) -> str:
    """The mentions as one phrase: "for 4 nights and 2 guests" (a repeated "for"/"with" is said once).

    Args:
        parts: Mentions in sentence order.
    """
    texts: list[str] = []
    previous: tuple[str, int] = ("", -1)
    for part in parts:
        first = part.text.split(" ", 1)[0]
        if texts and (first, part.order) == previous and first in ("for", "with") and " and " not in texts[-1] \
                and part.order in (COUNT, OPTION) and not re.search(r"[,:]", part.text + texts[-1]):
            texts[-1] += " and " + part.text.split(" ", 1)[1]
            continue
        texts.append(part.text)
        previous = (first, part.order)
    return " ".join(texts)


def mention(key: str, value: Any, schema: dict, ctx: _Context) -> Part | None:
    """One argument's mention (None when the value needs no words, e.g. an empty list).

    Args:
        key: The parameter's name.
        value: Its value in the call.
        schema: The parameter's JSON Schema (description, enum).
        ctx: The request's choices and the action's object phrase.
    """
    description = schema.get("description") or ""
    if isinstance(value, bool):
        return _bool_part(key, value, description, ctx)
    if isinstance(value, dict):
        return _object_part(key, value, schema, ctx)
    if isinstance(value, list):
        return _array_part(key, value, schema, ctx)
    if _is_number(value):
        return _number_part(key, value, description, ctx)
    if isinstance(value, str):
        if enum_values(schema) or schema.get("const") is not None:
            return _enum_part(key, value, ctx)
        return _string_part(key, value, schema, ctx)
    return None


def enum_values(schema: dict) -> list:
    """The enum of a schema, also one inside `anyOf`/`oneOf` (an enum or null)."""
    if schema.get("enum"):
        return list(schema["enum"])
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            if isinstance(branch, dict) and branch.get("enum"):
                return list(branch["enum"])
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pick(ctx: _Context, key: str, options: list[str], spoken: str) -> str:
    """A phrasing for the mention; one whose preposition ends the object phrase ("for products") is avoided."""
    tail = ctx.obj.split()[-2:-1]
    fitting = [o for o in options if not tail or o.split(" ", 1)[0] != tail[0]] or options
    return _fill(ctx.chooser.pick(key, fitting), spoken)


def _string_part(key: str, value: str, schema: dict, ctx: _Context) -> Part:
    words = words_of(key)
    description = schema.get("description") or ""
    side = pair_side(key)
    spoken = ctx.chooser.say(key, value)
    label = humanize(key)
    if ISO_DATE.match(value) or dates_in(value) or split_datetime(value):
        return _date_part(key, words, side, spoken, ctx)
    if CLOCK.match(value):
        options = {"start": ["at {v}", "starting at {v}"], "end": ["until {v}", "ending at {v}"]}.get(
            side[0] if side else "", ["at {v}"])
        return Part(_pick(ctx, key, options, spoken), TIME, (key,))
    kind = string_kind(key, description, schema)
    if side and side[0] in ("from", "to", "start", "end") and kind not in ("message", "title", "query"):
        if side[0] in ("from", "start"):
            return Part(f"from {spoken}", ROUTE, (key,), lead=f"From {spoken}")
        into = ["to {v}", "into {v}"] if kind in ("currency", "language", "language_code", "locale") else ["to {v}"]
        return Part(_pick(ctx, key, into, spoken), ROUTE, (key,), target=spoken)
    if "passport" in words:
        return Part(_pick(ctx, key, ["with a passport from {v}", "holding a passport from {v}"], spoken), WHO,
                    (key,))
    if kind in ("city", "city_state", "country", "country_code", "country_code3", "airport", "address", "us_state"):
        options = ["at {v}"] if kind == "address" else ["in {v}", "in {v}", "for {v}"]
        if kind == "airport":
            options = ["at {v}", "for {v}"]
        text = _pick(ctx, key, options, spoken)
        return Part(text, PLACE, (key,), lead=_cap(text))
    if kind in ("currency", "language", "language_code", "locale", "timezone"):
        return Part(f"in {spoken}", OPTION, (key,))
    if kind in ("ticker", "crypto"):
        return Part(f"for {spoken}", OBJECT, (key,))
    if kind == "email":
        if set(words) & {"sender", "from"}:
            return Part(f"from {spoken}", WHO, (key,))
        if set(words) & {"cc", "bcc"}:
            return Part(f"with {spoken} in {words[0]}", WHO, (key,))
        options = ["to {v}"] if set(words) & {"recipient", "to", "email", "address"} else ["for {v}", "to {v}"]
        return Part(_pick(ctx, key, options, spoken), WHO, (key,))
    if kind in ("person", "first_name", "last_name"):
        roles = [(("attendee", "guest", "participant", "invitee", "member"), ["with {v}", "inviting {v}"]),
                 (("assignee", "owner"), ["assigned to {v}"]), (("author", "artist", "creator"), ["by {v}"]),
                 (("recipient", "to"), ["to {v}"]), (("sender", "from"), ["from {v}"])]
        options = next((o for names, o in roles if set(words) & set(names)), ["for {v}"])
        return Part(_pick(ctx, key, options, spoken), WHO, (key,))
    quoted = spoken if spoken.startswith('"') else f'"{value}"'
    if kind == "title":
        return Part(_pick(ctx, key, ["called {v}", "titled {v}", "named {v}"], quoted), WHO, (key,))
    if kind == "message":
        options = [f"with the {label} {{v}}"] if len(words) > 1 else ["saying {v}", "with the text {v}",
                                                                       "that says {v}"]
        return Part(_pick(ctx, key, options, quoted), LAST, (key,))
    if kind == "query":
        return Part(_pick(ctx, key, ["for {v}", "about {v}", "matching {v}", "on {v}"],
                          spoken if not is_free_text(value) or len(value.split()) > 3 else value), WHO, (key,))
    if kind == "id":
        head = _id_head(words)
        options = [f"for {head} {{v}}"] + ([] if ctx.obj else [f"{head} {{v}}"]) if head else ["with ID {v}"]
        return Part(_pick(ctx, key, options, spoken), OBJECT, (key,))
    if kind == "file":
        return Part(_pick(ctx, key, ["the file {v}", "{v}"], spoken), OBJECT, (key,))
    if kind == "url":
        return Part(_pick(ctx, key, ["{v}", "at {v}"], spoken), OBJECT, (key,))
    simple = {"product": ["for {v}"], "food": ["for {v}"], "cuisine": ["serving {v} food", "for {v} food"],
              "unit": ["in {v}"], "company": ["at {v}", "for {v}"],
              "username": ["for user {v}", "for @{v}"], "phone": ["at {v}", "on {v}"], "color": ["in {v}"],
              "genre": ["in the {v} genre"], "category": ["in {v}", "in the {v} category"],
              "status": ["with status {v}"], "word": ["for the word {v}"]}
    if kind in simple:
        return Part(_pick(ctx, key, simple[kind], spoken), WHO, (key,))
    return _fallback(key, label, spoken, ctx)


def _id_head(words: list[str]) -> str:
    """'order_id' -> 'order', 'eventId' -> 'event', 'id' -> ''."""
    rest = [w for w in words if w not in ("id", "identifier", "number", "code", "ref", "reference", "key", "no")]
    return " ".join(rest)


def _fallback(key: str, label: str, spoken: str, ctx: _Context) -> Part:
    options = ["with {l} {v}", "{l} {v}", "({l}: {v})", "with {l} of {v}" if label.endswith("s") else
               f"with {article(label)} {{l}} of {{v}}"]
    return Part(_pick(ctx, key, options, spoken).replace("{l}", label), OPTION, (key,))


def _date_part(key: str, words: list[str], side: tuple[str, str] | None, spoken: str, ctx: _Context) -> Part:
    joined = "".join(words)
    if "checkin" in joined or words[:2] == ["check", "in"]:
        options = ["checking in {v}", "from {v}", "arriving {v}"]
    elif "checkout" in joined or words[:2] == ["check", "out"]:
        options = ["checking out {v}", "until {v}", "leaving {v}"]
    elif set(words) & {"departure", "depart", "outbound", "leave"}:
        options = ["on {v}", "leaving {v}", "departing {v}"]
    elif set(words) & {"return", "inbound"}:
        options = ["returning {v}", "coming back {v}"]
    elif "after" in words or "since" in words:
        options = ["after {v}", "since {v}"]
    elif "before" in words:
        options = ["before {v}"]
    elif set(words) & {"deadline", "due"}:
        options = ["due {v}", "by {v}"]
    elif set(words) & {"birthday", "birth", "dob", "born"}:
        options = ["born {v}"]
    elif side and side[0] in ("from", "start"):
        options = ["from {v}", "starting {v}"]
    elif side and side[0] in ("to", "end"):
        options = ["until {v}", "through {v}", "to {v}"]
    else:
        options = ["on {v}", "for {v}"]
    text = _pick(ctx, key, options, spoken)
    lead = _cap(text) if text.split(" ", 1)[0] in ("on", "for", "from") else None
    return Part(text, TIME, (key,), lead=lead)


def _number_part(key: str, value: int | float, description: str, ctx: _Context) -> Part:
    words = words_of(key)
    wordset = set(words)
    side = pair_side(key)
    spoken = ctx.chooser.say(key, value)
    count = ctx.chooser.say(key, value, words=True) if isinstance(value, int) else spoken
    noun = words[-1] if words else ""
    if side and side[0] in ("min", "max"):
        stem = side[1]
        stem_words = set(stem.split())
        low = side[0] == "min"
        if stem_words & MONEY_WORDS:
            options = ["over {v}", "for at least {v}"] if low else ["under {v}", "for at most {v}", "up to {v}"]
        elif stem_words & {"rating", "score", "stars"}:
            options = ["rated {v} or higher", "with a rating of at least {v}"] if low else ["rated {v} or lower"]
        elif stem.split()[-1:] and stem.split()[-1] in _COUNT_NOUNS:
            noun = stem.split()[-1] if value != 1 else singular(stem.split()[-1])
            options = [f"with at least {{v}} {noun}"] if low else [
                f"with at most {{v}} {noun}", f"with no more than {{v}} {noun}", f"with up to {{v}} {noun}"]
            return Part(_pick(ctx, key, options, count), COUNT, (key,))
        elif not stem:
            options = ["of at least {v}"] if low else ["of at most {v}"]
        else:
            options = [f"with {stem} of at least {{v}}"] if low else [f"with {stem} of at most {{v}}",
                                                                     f"with {stem} up to {{v}}"]
        return Part(_pick(ctx, key, options, spoken), OPTION, (key,))
    if wordset & {"page"} and not wordset & {"size"}:
        return Part(f"page {spoken}", OPTION, (key,))
    if wordset & _LIMITS or wordset & {"results"} and len(words) <= 3:
        return Part(_pick(ctx, key, ["up to {v} results", "top {v}", "at most {v} results", "limited to {v}"],
                          spoken), OPTION, (key,))
    if wordset & MONEY_WORDS:
        if "budget" in wordset:
            options = ["with a budget of {v}", "on a budget of {v}"]
        elif wordset & {"amount", "total", "payment", "fee"}:
            options = ["for {v}", "of {v}"]
        else:
            options = ["for {v}", "priced at {v}"]
        return Part(_pick(ctx, key, options, spoken), OBJECT, (key,))
    if wordset & {"quantity", "qty"}:
        return Part(_pick(ctx, key, ["in a quantity of {v}", "({v} units)"], count), COUNT, (key,))
    if "age" in wordset:
        qualifier = " ".join(w for w in words if w != "age")
        return Part(f"with a {qualifier} aged {spoken}" if qualifier else f"aged {spoken}", WHO, (key,))
    if len(words) >= 2 and words[-1] in ("before", "after", "ahead", "ago", "early", "late"):
        return Part(f"{count} {words[-2]} {words[-1]}", COUNT, (key,))
    if noun in _COUNT_NOUNS or words and words[0] in _COUNT_NOUNS and len(words) == 2:
        noun = noun if noun in _COUNT_NOUNS else words[0]
        said = noun if value != 1 else singular(noun)
        ahead = "next" in description.lower().split() and noun in ("days", "hours", "weeks")
        options = [f"for the next {{v}} {said}", f"for {{v}} {said}"] if ahead else [f"for {{v}} {said}"]
        return Part(_pick(ctx, key, options, count), COUNT, (key,))
    if "year" in wordset:
        return Part(_pick(ctx, key, ["in {v}", "for {v}"], spoken), TIME, (key,))
    if wordset & {"percent", "percentage", "pct"}:
        return Part(_pick(ctx, key, ["of {v}%", "of {v} percent"], spoken), OPTION, (key,))
    if wordset & {"rating", "stars", "score"}:
        return Part(_pick(ctx, key, ["rated {v}", "with a rating of {v}"], spoken), OPTION, (key,))
    if wordset & {"temperature", "temp"}:
        return Part(_pick(ctx, key, ["to {v} degrees", "at {v} degrees"], spoken), OPTION, (key,))
    if wordset & {"distance", "radius", "range"}:
        unit = next((u for u in ("km", "miles", "meters", "metres", "kilometers") if u in description.lower()), "km")
        return Part(_pick(ctx, key, [f"within {{v}} {unit}", f"in a {{v}} {unit} radius"], spoken), PLACE, (key,))
    if wordset & {"weight", "kg", "lbs"}:
        unit = "lbs" if re.search(r"\b(lbs?|pounds)\b", description.lower()) else "kg"
        return Part(f"weighing {spoken} {unit}", OPTION, (key,))
    return _fallback(key, humanize(key), spoken, ctx)


def _enum_part(key: str, value: str, ctx: _Context) -> Part:
    words = words_of(key)
    spoken = ctx.chooser.say(key, value, spaced=True)
    noun = words[-1] if words else ""
    if noun == "order" and value.lower() in ("asc", "desc", "ascending", "descending"):
        return Part(f"in {spoken} order", OPTION, (key,))
    for word in (noun, *reversed(words[:-1])):
        if word in _ENUM_PHRASES:
            text = _pick(ctx, key, _ENUM_PHRASES[word], spoken)
            return Part(re.sub(rf"\ba {re.escape(spoken)}", f"{article(spoken)} {spoken}", text), OPTION, (key,))
    side = pair_side(key)
    if side and side[0] in ("from", "start"):
        return Part(f"from {spoken}", ROUTE, (key,))
    if side and side[0] in ("to", "end"):
        return Part(f"to {spoken}", ROUTE, (key,), target=spoken)
    return _fallback(key, humanize(key), spoken, ctx)


def _bool_part(key: str, value: bool, description: str, ctx: _Context) -> Part:
    words = words_of(key)
    first_clause = re.split(r"[.;,(]", description.strip(), maxsplit=1)[0].strip()
    desc_words = first_clause.split()
    if desc_words and desc_words[0].lower() in _BOOL_VERBS and len(desc_words) <= 6:
        verb, rest = desc_words[0].lower(), " ".join(desc_words[1:])
    elif words and words[0] in _BOOL_VERBS:
        verb, rest = words[0], " ".join(words[1:])
    else:
        verb, rest = "", ""
    if verb in ("include", "exclude") and rest:
        options = [f"with {rest}", f"including {rest}"] if (value == (verb == "include")) else [f"without {rest}"]
    elif verb:
        rest = rest or {"notify": "everyone", "send": "it", "confirm": "it"}.get(verb, "")
        options = [f"and {verb} {rest}", f"{gerund(verb)} {rest}"] if value else [f"without {gerund(verb)} {rest}"]
    elif words and words[0] in ("is", "has", "should", "can", "allow", "only") and len(words) > 1:
        rest = " ".join(words[1:])
        options = [f"{words[0]} {rest}".replace("is ", "that is ", 1)] if value else [f"not {rest}"]
        options = [f"({o})" for o in options]
    else:
        label = humanize(key)
        options = [f"with {label}", f"{label} included"] if value else [f"without {label}", f"no {label}"]
    return Part(ctx.chooser.pick(key, [o.strip() for o in options]), OPTION, (key,))


def _object_part(key: str, value: dict, schema: dict, ctx: _Context) -> Part | None:
    properties = schema.get("properties") or {}
    inner = argument_parts(value, properties, Chooser(f"{ctx.chooser.seed}/{key}"))
    if not inner:
        return None
    words = words_of(key)
    if all(p.order == COUNT and p.text.startswith("for ") for p in inner):  # "for 2 adults and 1 child"
        return Part(join_parts(inner), COUNT, (key,))
    if set(words) & {"shipping", "delivery", "ship", "deliver", "recipient"}:
        # "shipped to Vera Rossi at 9 Maple Avenue, Dublin, with express": the person first, then the address
        inner.sort(key=lambda p: (p.order != WHO, p.order))
        said = [re.sub(r"^(for|to) ", "", p.text) if p.order == WHO else p.text for p in inner]
        return Part("shipped to " + " ".join(said[:2]) + "".join(f", {t}" for t in said[2:]), LAST, (key,))
    label = humanize(key)
    lead = f"with {article(label)} {label}" if not label.endswith("s") else f"with {label}"
    return Part(f"{lead} {join_parts(inner)}", OPTION, (key,))


def _array_part(key: str, value: list, schema: dict, ctx: _Context) -> Part | None:
    if not value:
        return None
    words = words_of(key)
    label = humanize(key)
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if all(isinstance(v, dict) for v in value):
        item_name = singular(words[-1]) if words else "item"
        said = [join_parts(argument_parts(v, items.get("properties") or {}, Chooser(f"{ctx.chooser.seed}/{key}")))
                for v in value]
        if len(said) == 1:
            return Part(f"with {article(item_name)} {item_name} {said[0]}".strip(), OPTION, (key,))
        listed = ", ".join(f"one {s}" for s in said[:-1]) + f" and one {said[-1]}"
        return Part(f"with {len(said)} {words[-1]}: {listed}", LAST, (key,))
    spoken = ctx.chooser.say(key, value, spaced=bool(items.get("enum")))
    kind = string_kind(key, schema.get("description") or "", items) if all(isinstance(v, str) for v in value) else ""
    if set(words) & {"attendees", "guests", "participants", "invitees", "members", "people"} or kind == "email":
        return Part(_pick(ctx, key, ["with {v}", "inviting {v}"], spoken), WHO, (key,))
    if set(words) & {"tags", "labels", "keywords"}:
        return Part(_pick(ctx, key, ["tagged {v}", "with the tags {v}"], spoken), OPTION, (key,))
    if items.get("enum"):
        return Part(_pick(ctx, key, ["with {v}", "including {v}"], spoken), OPTION, (key,))
    return Part(_pick(ctx, key, ["for {v}", "with {l} {v}".replace("{l}", label)], spoken), OPTION, (key,))
