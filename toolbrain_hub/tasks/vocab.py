"""Word pools and value kinds for the schema task generator: plain data, varied enough to read naturally.

A string parameter gets a *kind* (`string_kind`: "airport", "currency", "city", "date" ...) from its name, its
description, its examples and its pattern; `MAKERS` draws a value of each kind. Codes win when the schema asks for a
code ("IATA code of the departure airport" is an airport code, not a city), and generic names ("to", "value") defer
to the description. `pair_side` reads the role of paired parameters (from/to, start/end, min/max), so the sampler
keeps their values distinct and ordered and the phrasing says "from JPY to USD". `words_of` splits identifiers and
sentences into words.
"""

from __future__ import annotations

import random
import re
from typing import Any

_CITIES = ["Paris", "Tokyo", "Berlin", "Madrid", "Toronto", "Sydney", "Cairo", "Lima", "Oslo", "Seoul", "Mumbai",
           "Chicago", "Lisbon", "Nairobi", "Vienna", "Denver", "Austin", "Dublin", "Prague", "Boston", "Istanbul",
           "Bangkok", "Rome", "Amsterdam", "Buenos Aires", "Cape Town", "Vancouver", "Singapore", "Helsinki", "Zurich"]
_CITY_STATES = ["Boston, MA", "Austin, TX", "Seattle, WA", "Denver, CO", "Chicago, IL", "San Francisco, CA",
                "Miami, FL", "Portland, OR", "New York, NY", "Phoenix, AZ", "Atlanta, GA", "Nashville, TN"]
# (city, latitude, longitude): coordinates a person would paste from a map.
COORDINATES = [("Paris", 48.8566, 2.3522), ("Tokyo", 35.6762, 139.6503), ("New York", 40.7128, -74.006),
               ("Sydney", -33.8688, 151.2093), ("Cairo", 30.0444, 31.2357), ("Lima", -12.0464, -77.0428),
               ("Oslo", 59.9139, 10.7522), ("Mumbai", 19.076, 72.8777), ("Toronto", 43.6532, -79.3832),
               ("Cape Town", -33.9249, 18.4241), ("Berlin", 52.52, 13.405), ("Buenos Aires", -34.6037, -58.3816),
               ("Nairobi", -1.2921, 36.8219), ("Reykjavik", 64.1466, -21.9426), ("Singapore", 1.3521, 103.8198)]
_COUNTRIES = ["France", "Japan", "Germany", "Spain", "Canada", "Australia", "Egypt", "Peru", "Norway", "Brazil",
              "India", "Mexico", "Italy", "Kenya", "Chile", "Portugal", "Ireland", "Sweden", "Vietnam", "Greece"]
_COUNTRY_CODES = ["FR", "JP", "DE", "ES", "CA", "AU", "EG", "PE", "NO", "BR", "IN", "MX", "IT", "KE", "CL", "PT",
                  "IE", "SE", "VN", "GR", "US", "GB", "KR", "NL", "CH", "TH", "AR", "ZA", "NZ"]
_COUNTRY_CODES3 = ["FRA", "JPN", "DEU", "ESP", "CAN", "AUS", "EGY", "PER", "NOR", "BRA", "IND", "MEX", "ITA", "KEN",
                   "USA", "GBR", "KOR", "NLD", "CHE", "THA"]
FIRST = ["Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena",
         "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe"]
_LAST = ["Martin", "Tanaka", "Schmidt", "Garcia", "Okafor", "Rossi", "Novak", "Kim", "Silva", "Dubois", "Khan",
         "Larsen", "Moreau", "Patel", "Costa", "Nguyen", "Weber", "Haddad", "Ito", "Lopez"]
TOPICS = ["electric cars", "sourdough bread", "machine learning", "climate change", "home workouts", "solar panels",
          "the Roman empire", "vegan recipes", "remote work", "coral reefs", "jazz history", "quantum computing",
          "marathon training", "urban gardening", "black holes", "budget travel", "chess openings", "honey bees",
          "renewable energy", "ancient Egypt", "sleep hygiene", "3D printing", "volcanoes", "street photography"]
SENTENCES = ["Running ten minutes late, start without me.", "Can we move our call to Thursday?",
             "The report is ready for review.", "Happy birthday, have a great day!",
             "Please bring the signed contract tomorrow.", "Lunch is on me today.",
             "The server is back online.", "Don't forget the team meeting at noon.",
             "Thanks for your help with the launch.", "The package arrived this morning.",
             "I left the keys at the front desk.", "Let's review the budget next week."]
_TITLES = ["Quarterly review", "Team lunch", "Project kickoff", "Dentist appointment", "Budget planning",
           "Weekly sync", "Product demo", "Code review", "Book club", "Yoga class", "Client call", "Design workshop"]
_COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Wayne Enterprises",
              "Hooli", "Vandelay Imports", "Soylent", "Wonka Foods"]
_LANGS = ["French", "Spanish", "German", "Japanese", "Italian", "Portuguese", "Korean", "Dutch", "Arabic", "Hindi"]
LANG_CODES = ["fr", "es", "de", "ja", "it", "pt", "ko", "nl", "ar", "hi", "en", "zh", "ru", "sv", "pl", "tr"]
_LOCALES = ["en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "ja-JP", "pt-BR", "it-IT", "nl-NL", "ko-KR"]
_CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "INR", "BRL", "SEK", "CNY", "MXN", "SGD", "NZD",
               "NOK", "ZAR", "HKD", "KRW"]
_TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "META", "IBM", "ORCL", "NFLX", "INTC", "AMD", "SAP",
            "SONY", "SHOP", "UBER", "ABNB", "DIS", "KO", "PEP", "NKE", "JPM", "V", "WMT"]
_CRYPTO = ["BTC", "ETH", "SOL", "ADA", "DOGE", "XRP", "DOT", "LTC"]
COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "teal", "pink"]
_PRODUCTS = ["wireless headphones", "running shoes", "coffee grinder", "standing desk", "yoga mat", "air purifier",
             "mechanical keyboard", "water bottle", "desk lamp", "backpack", "smart watch", "blender"]
_FOODS = ["pasta carbonara", "chicken curry", "caesar salad", "pad thai", "mushroom risotto", "tacos", "ramen",
          "lentil soup", "banana bread", "paella"]
_CUISINES = ["Italian", "Mexican", "Thai", "Japanese", "Indian", "French", "Chinese", "Greek", "Vietnamese",
             "Lebanese", "Korean", "Spanish"]
_UNITS = ["cm", "meters", "inches", "feet", "km", "miles"]
_GENRES = ["jazz", "rock", "classical", "hip hop", "electronic", "folk", "blues", "reggae", "pop", "soul"]
_STREETS = ["12 Oak Street", "221B Baker Street", "5 Rue de Rivoli", "742 Evergreen Terrace", "18 Harbour Road",
            "9 Maple Avenue", "44 King Street", "3 Elm Court"]
_US_STATES = ["CA", "NY", "TX", "WA", "MA", "IL", "FL", "CO", "OR", "GA"]
_POSTAL_CODES = ["10001", "94103", "02139", "60601", "98101", "SW1A 1AA", "75001", "10115", "1010", "2000"]
_TIMEZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Europe/London", "UTC"]
_AIRPORTS = ["JFK", "LAX", "SFO", "ORD", "ATL", "SEA", "BOS", "MIA", "DEN", "CDG", "LHR", "FRA", "AMS", "MAD", "FCO",
             "LIS", "DUB", "ZRH", "VIE", "IST", "DXB", "DOH", "SIN", "HKG", "NRT", "HND", "ICN", "SYD", "YYZ", "YVR",
             "GRU", "EZE", "MEX", "JNB", "BKK", "DEL"]
_CATEGORIES = ["electronics", "books", "clothing", "groceries", "sports", "toys", "garden", "music", "travel", "health"]
WORDS = ["apple", "river", "journey", "bright", "garden", "silent", "window", "rocket", "harbor", "meadow",
         "lantern", "pebble", "canyon", "velvet", "thunder", "orchard", "compass", "glacier", "marble", "willow"]
_FOLDERS = ["reports", "notes", "data", "images", "docs", "projects", "invoices", "backups"]
_EXTENSIONS = ["pdf", "txt", "csv", "png", "md", "docx", "xlsx", "json"]
_STATUSES = ["open", "pending", "active", "closed", "done"]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(_LAST)}"


def sample_email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST).lower()}.{rng.choice(_LAST).lower()}@example.com"


def sample_slug(rng: random.Random) -> str:
    return "-".join(rng.sample(WORDS, 2))


def _pool(values: list[str]):
    return lambda rng: rng.choice(values)


# Kind -> value maker. The kinds a parameter can get (`string_kind`), and the pools codes are looked up in.
MAKERS: dict[str, Any] = {
    "email": sample_email,
    "url": lambda r: f"https://www.example.com/{sample_slug(r)}",
    "airport": _pool(_AIRPORTS), "timezone": _pool(_TIMEZONES), "currency": _pool(_CURRENCIES),
    "ticker": _pool(_TICKERS), "crypto": _pool(_CRYPTO), "country_code": _pool(_COUNTRY_CODES),
    "country_code3": _pool(_COUNTRY_CODES3), "language_code": _pool(LANG_CODES), "locale": _pool(_LOCALES),
    "language": _pool(_LANGS), "company": _pool(_COMPANIES),
    "username": lambda r: f"{r.choice(FIRST).lower()}_{r.randint(1, 99)}",
    "address": lambda r: f"{r.choice(_STREETS)}, {r.choice(_CITIES)}",
    "phone": lambda r: f"+1 555 {r.randint(100, 999)} {r.randint(1000, 9999)}",
    "color": _pool(COLORS),
    "file": lambda r: f"{r.choice(_FOLDERS)}/{sample_slug(r)}.{r.choice(_EXTENSIONS)}",
    "product": _pool(_PRODUCTS), "food": _pool(_FOODS), "cuisine": _pool(_CUISINES), "unit": _pool(_UNITS),
    "genre": _pool(_GENRES), "category": _pool(_CATEGORIES),
    "status": _pool(_STATUSES), "city": _pool(_CITIES), "city_state": _pool(_CITY_STATES),
    "country": _pool(_COUNTRIES), "title": _pool(_TITLES), "message": _pool(SENTENCES), "query": _pool(TOPICS),
    "person": _person, "first_name": _pool(FIRST), "last_name": _pool(_LAST), "us_state": _pool(_US_STATES),
    "postal": _pool(_POSTAL_CODES),
    "id": lambda r: f"{r.choice(['A', 'B', 'C', 'X', 'K'])}{r.randint(1000, 99999)}",
    "word": _pool(WORDS),
    "text": lambda r: f"{r.choice(WORDS)} {r.choice(WORDS)}" if r.random() < 0.5 else r.choice(TOPICS),
}
# Pools of short codes: a pattern such as ^[A-Z]{3}$ is filled from one of these before random letters are drawn.
CODE_POOLS = {kind: pool for kind, pool in (("airport", _AIRPORTS), ("currency", _CURRENCIES), ("ticker", _TICKERS),
                                            ("crypto", _CRYPTO), ("country_code", _COUNTRY_CODES),
                                            ("country_code3", _COUNTRY_CODES3), ("language_code", LANG_CODES),
                                            ("locale", _LOCALES))}

# Kinds that are codes: found by a parameter's name words, or by its description when the name is generic or the
# description says "code" (a "note about the currency" is no currency code); airports, locales and time zones by the
# description alone.
_CODE_KINDS: list[tuple[str, set[str], bool]] = [
    ("airport", {"airport", "iata"}, True),
    ("currency", {"currency", "currencies"}, False),
    ("crypto", {"crypto", "cryptocurrency", "coin"}, False),
    ("ticker", {"ticker", "stock", "symbol"}, False),
    ("locale", {"locale"}, True),
    ("timezone", {"timezone", "tz"}, True),
    ("country", {"country", "nation"}, False),
    ("language", {"language", "lang"}, False),
]
_CODE_MARKERS = {"code", "codes", "iso", "iata", "alpha", "3166", "639", "4217", "symbol", "ticker", "abbreviation"}
# Other kinds, by name words (then description words); the first match wins.
_KINDS: list[tuple[str, set[str]]] = [
    ("email", {"email", "mail", "recipient", "sender", "cc", "bcc"}),
    ("url", {"url", "uri", "link", "website", "homepage", "endpoint"}),
    ("company", {"company", "organization", "organisation", "org", "employer", "vendor"}),
    ("username", {"username", "handle", "login"}),
    ("address", {"address", "street"}),
    ("phone", {"phone", "mobile", "telephone"}),
    ("color", {"color", "colour"}),
    ("file", {"file", "path", "filename", "filepath", "folder", "directory"}),
    ("product", {"product", "item"}),
    ("cuisine", {"cuisine", "cuisines"}),
    ("food", {"dish", "recipe", "food", "meal", "ingredient"}),
    ("unit", {"unit", "units"}),
    ("genre", {"genre", "style"}),
    ("category", {"category", "tag", "label", "section"}),
    ("postal", {"postal", "zip", "zipcode", "postcode"}),
    ("us_state", {"state", "province"}),
    ("status", {"status"}),
    ("city", {"city", "town", "location", "place", "destination", "origin", "venue"}),
    ("title", {"title", "subject", "event", "summary", "headline"}),
    ("message", {"message", "text", "body", "content", "note", "comment", "description", "sentence", "prompt"}),
    ("query", {"query", "keyword", "keywords", "search", "topic", "term", "q", "question"}),
    ("person", {"name", "person", "contact", "user", "author", "attendee", "guest", "customer", "owner", "assignee",
                "participant", "recipient_name"}),
    ("id", {"id", "identifier", "key", "code", "number", "ref", "reference", "order", "ticket", "sku"}),
    ("word", {"word"}),
    # "from"/"to" alone (no better hint in the description) are usually places.
    ("city", {"from", "to"}),
]
# Names too generic to decide a kind when the description says more ("to": "Target currency").
_WEAK_NAMES = {"from", "to", "source", "target", "value", "input", "data", "arg", "param", "item", "key", "name",
               "id", "q"}

# (words) -> (low, high) for numbers without explicit bounds.
NUMBER_RULES: list[tuple[set[str], tuple[float, float]]] = [
    ({"latitude", "lat"}, (-60.0, 70.0)),
    ({"longitude", "lon", "lng", "long"}, (-170.0, 170.0)),
    ({"year"}, (2018, 2026)),
    ({"month"}, (1, 12)),
    ({"day", "days"}, (1, 28)),
    ({"hour", "hours"}, (0, 23)),
    ({"minute", "minutes"}, (0, 59)),
    ({"age"}, (18, 80)),
    ({"percent", "percentage"}, (1, 100)),
    ({"rating", "stars", "score"}, (1, 5)),
    ({"temperature", "temp"}, (-10, 35)),
    ({"price", "amount", "budget", "cost", "salary", "total", "value", "balance", "income"}, (5, 500)),
    ({"limit", "count", "num", "max", "top", "k", "size", "results", "n", "page", "quantity", "guests", "people",
      "adults", "nights", "seats", "rooms", "items", "servings", "attempts", "retries"}, (1, 20)),
    ({"weight", "kg", "lbs"}, (1, 120)),
    ({"distance", "radius", "km", "miles", "meters"}, (1, 50)),
]
# Numbers a person gives as round sums ("250 EUR", "under 80") more often than with cents.
MONEY_WORDS = {"price", "amount", "budget", "cost", "salary", "total", "balance", "income", "fee", "payment"}

STOP = {"the", "a", "an", "of", "for", "to", "in", "on", "and", "or", "is", "be", "by", "with", "at", "as", "this",
        "that", "it", "its", "from", "are", "will", "can", "which", "e.g", "eg", "if", "optional", "default", "your",
        "you", "use", "used", "given", "specified", "value", "values", "tool", "function", "returns", "return"}

# Paired parameters: the side a word puts a parameter on, and whether the pair is ordered (start before end).
_SIDES = {"from": "from", "source": "from", "src": "from", "origin": "from", "departure": "from", "base": "from",
          "to": "to", "target": "to", "dest": "to", "destination": "to", "arrival": "to", "into": "to",
          "start": "start", "begin": "start", "since": "start", "checkin": "start", "earliest": "start",
          "end": "end", "until": "end", "checkout": "end", "latest": "end", "return": "end",
          "after": "start", "before": "end", "min": "min", "minimum": "min", "lowest": "min", "max": "max",
          "maximum": "max", "highest": "max"}
PAIRS = {("from", "to"): False, ("start", "end"): True, ("min", "max"): True}


def words_of(text: str) -> list[str]:
    """Lowercase words of an identifier or sentence: 'startDate' / 'start_date' -> ['start', 'date']."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(text))
    return [w for w in re.split(r"[^A-Za-z0-9]+", text.lower()) if w]


def humanize(name: str) -> str:
    return " ".join(words_of(name)) or name


def pair_side(name: str) -> tuple[str, str] | None:
    """(side, stem) of a paired parameter: 'from_currency' -> ('from', 'currency'), 'check_out' -> ('end', ''),
    'max_price' -> ('max', 'price'); None for a parameter that is no side of a pair."""
    words = words_of(name)
    joined = "".join(words[:2])
    if joined in ("checkin", "checkout"):
        return _SIDES[joined], " ".join(words[2:])
    for i in (0, len(words) - 1) if words else ():
        side = _SIDES.get(words[i])
        if side:
            return side, " ".join(words[:i] + words[i + 1:])
    return None


def _example_shapes(description: str, schema: dict) -> list[str]:
    """Example values a schema gives: its `examples`, and "e.g. X" / "for example X" / "such as X" in the text."""
    found = [e for e in schema.get("examples") or [] if isinstance(e, str)]
    match = re.search(r"(?:e\.g\.?|for example|such as|like)[:,]?\s+['\"]?([^'\"();]+?)['\"]?(?:[);]|\.(?:\s|$)|$)",
                      description, re.I)
    if match:
        found.append(match[1].strip().rstrip("."))
    return found


def string_kind(name: str, description: str = "", schema: dict | None = None) -> str:
    """The kind of value a string parameter holds ("airport", "currency", "city_state", "message", ... "text").

    Args:
        name: The parameter's name.
        description: Its description (or the enclosing one).
        schema: Its JSON Schema (examples, pattern, maxLength refine codes).
    """
    schema = schema or {}
    name_words = set(words_of(name))
    desc_words = set(words_of(description)) - STOP
    examples = _example_shapes(description, schema)
    pattern = schema.get("pattern") or ""
    marker = bool((name_words | desc_words) & _CODE_MARKERS) or bool(
        re.fullmatch(r"\^?\[A-Z\]\{[23]\}\$?|\^?\[a-z\]\{2\}\$?", pattern)) or any(
        re.fullmatch(r"[A-Z]{2,4}|[a-z]{2}(-[A-Z]{2})?", e) for e in examples)
    weak = not name_words - _WEAK_NAMES
    last = words_of(name)[-1:] or [""]
    for kind, words, by_description in _CODE_KINDS:
        if not (words & name_words or words & desc_words and (by_description or marker or weak)):
            continue
        if kind == "country":
            if not marker:
                return "country"
            three = "alpha3" in name_words | desc_words or "3" in desc_words or "{3}" in pattern or any(
                re.fullmatch(r"[A-Z]{3}", e) for e in examples)
            return "country_code3" if three else "country_code"
        if kind == "language":
            short = (schema.get("maxLength") or 99) <= 5
            return "language_code" if marker or short else "language"
        return kind
    if last[0] in ("id", "ids", "identifier", "uuid", "ref", "sku") and len(name_words) > 1:
        return "id"  # product_id is an id, not a product
    if "name" in name_words and name_words & {"first", "given"}:
        return "first_name"
    if "name" in name_words and name_words & {"last", "family"} or name_words & {"surname", "lastname"}:
        return "last_name"
    for words in (desc_words, name_words) if weak else (name_words, desc_words):
        for kind, keys in _KINDS:
            if keys & words:
                if kind == "city" and ("state" in desc_words or any(re.fullmatch(r"[A-Z][\w .]+, [A-Z]{2}", e)
                                                                    for e in examples)):
                    return "city_state"
                return kind
    return "text"


def singular(noun: str) -> str:
    """'nights' -> 'night', 'children' -> 'child', 'cities' -> 'city' (nouns of counts and arrays)."""
    irregular = {"children": "child", "people": "person", "men": "man", "women": "woman", "data": "data",
                 "series": "series", "news": "news"}
    if noun in irregular:
        return irregular[noun]
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith(("ches", "shes", "sses", "xes")):
        return noun[:-2]
    if noun.endswith("s") and not noun.endswith("ss") and len(noun) > 3:
        return noun[:-1]
    return noun
