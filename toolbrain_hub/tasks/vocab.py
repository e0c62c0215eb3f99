"""Word pools and value rules for the schema task generator: plain data, varied enough to read naturally.

Arguments are sampled by the words of a parameter's name (then its description): `STRING_RULES` and
`NUMBER_RULES` map those words to value makers and ranges; `words_of` splits identifiers and sentences into them.
"""

from __future__ import annotations

import random
import re
from typing import Any

# Value pools, chosen by parameter-name words (then description words). Plain data, varied enough to read naturally.
_CITIES = ["Paris", "Tokyo", "Berlin", "Madrid", "Toronto", "Sydney", "Cairo", "Lima", "Oslo", "Seoul", "Mumbai",
           "Chicago", "Lisbon", "Nairobi", "Vienna", "Denver", "Austin", "Dublin", "Prague", "Boston", "Istanbul",
           "Bangkok", "Rome", "Amsterdam", "Buenos Aires", "Cape Town", "Vancouver", "Singapore", "Helsinki", "Zurich"]
_COUNTRIES = ["France", "Japan", "Germany", "Spain", "Canada", "Australia", "Egypt", "Peru", "Norway", "Brazil",
              "India", "Mexico", "Italy", "Kenya", "Chile", "Portugal", "Ireland", "Sweden", "Vietnam", "Greece"]
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
LANG_CODES = ["fr", "es", "de", "ja", "it", "pt", "ko", "nl", "ar", "hi"]
_CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "INR", "BRL", "SEK"]
_TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "META", "IBM", "ORCL", "NFLX", "BTC", "ETH", "SOL",
            "ADA", "INTC", "AMD", "SAP", "SONY", "SHOP", "UBER", "ABNB", "DIS", "KO", "PEP", "NKE"]
COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "teal", "pink"]
_PRODUCTS = ["wireless headphones", "running shoes", "coffee grinder", "standing desk", "yoga mat", "air purifier",
             "mechanical keyboard", "water bottle", "desk lamp", "backpack", "smart watch", "blender"]
_FOODS = ["pasta carbonara", "chicken curry", "caesar salad", "pad thai", "mushroom risotto", "tacos", "ramen",
          "lentil soup", "banana bread", "paella"]
_GENRES = ["jazz", "rock", "classical", "hip hop", "electronic", "folk", "blues", "reggae", "pop", "soul"]
_STREETS = ["12 Oak Street", "221B Baker Street", "5 Rue de Rivoli", "742 Evergreen Terrace", "18 Harbour Road",
            "9 Maple Avenue", "44 King Street", "3 Elm Court"]
_TIMEZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Europe/London", "UTC"]
_AIRPORTS = ["JFK", "CDG", "LHR", "NRT", "SFO", "FRA", "MAD", "SYD", "YYZ", "DXB"]
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


# (name or description words) -> value maker. Checked in order; the first match wins.
STRING_RULES: list[tuple[set[str], Any]] = [
    ({"email", "mail", "recipient", "sender"}, sample_email),
    ({"url", "uri", "link", "website", "homepage", "endpoint"}, lambda r: f"https://www.example.com/{sample_slug(r)}"),
    ({"airport", "iata"}, lambda r: r.choice(_AIRPORTS)),
    ({"timezone", "tz"}, lambda r: r.choice(_TIMEZONES)),
    ({"currency"}, lambda r: r.choice(_CURRENCIES)),
    ({"ticker", "symbol", "stock"}, lambda r: r.choice(_TICKERS)),
    ({"language", "lang", "locale"}, lambda r: r.choice(_LANGS)),
    ({"company", "organization", "organisation", "org", "employer", "vendor"}, lambda r: r.choice(_COMPANIES)),
    ({"username", "handle", "login"}, lambda r: f"{r.choice(FIRST).lower()}_{r.randint(1, 99)}"),
    ({"address", "street"}, lambda r: f"{r.choice(_STREETS)}, {r.choice(_CITIES)}"),
    ({"phone", "mobile", "telephone"}, lambda r: f"+1 555 {r.randint(100, 999)} {r.randint(1000, 9999)}"),
    ({"color", "colour"}, lambda r: r.choice(COLORS)),
    ({"file", "path", "filename", "filepath", "folder", "directory"},
     lambda r: f"{r.choice(_FOLDERS)}/{sample_slug(r)}.{r.choice(_EXTENSIONS)}"),
    ({"product", "item"}, lambda r: r.choice(_PRODUCTS)),
    ({"dish", "recipe", "food", "meal", "ingredient"}, lambda r: r.choice(_FOODS)),
    ({"genre", "style"}, lambda r: r.choice(_GENRES)),
    ({"category", "tag", "label", "section"}, lambda r: r.choice(_CATEGORIES)),
    ({"status", "state"}, lambda r: r.choice(_STATUSES)),
    ({"city", "town", "location", "place", "destination", "origin"}, lambda r: r.choice(_CITIES)),
    ({"country", "nation", "region"}, lambda r: r.choice(_COUNTRIES)),
    ({"title", "subject", "event", "summary", "headline"}, lambda r: r.choice(_TITLES)),
    ({"message", "text", "body", "content", "note", "comment", "description", "sentence", "prompt"},
     lambda r: r.choice(SENTENCES)),
    ({"query", "keyword", "keywords", "search", "topic", "term", "q", "question"}, lambda r: r.choice(TOPICS)),
    ({"name", "person", "contact", "user", "author", "attendee", "guest", "customer", "owner", "assignee"},
     _person),
    ({"id", "identifier", "key", "code", "number", "ref", "reference", "order", "ticket", "sku"},
     lambda r: f"{r.choice(['A', 'B', 'C', 'X', 'K'])}{r.randint(1000, 99999)}"),
    ({"word"}, lambda r: r.choice(WORDS)),
    # "from"/"to" alone (no better hint in the description) are usually places.
    ({"from", "to"}, lambda r: r.choice(_CITIES)),
]

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
    ({"limit", "count", "num", "max", "top", "k", "size", "results", "n", "page", "quantity", "guests", "people",
      "adults", "nights", "seats", "rooms", "items", "servings", "attempts", "retries"}, (1, 20)),
    ({"price", "amount", "budget", "cost", "salary", "total", "value", "balance", "income"}, (5, 500)),
    ({"weight", "kg", "lbs"}, (1, 120)),
    ({"distance", "radius", "km", "miles", "meters"}, (1, 50)),
]

STOP = {"the", "a", "an", "of", "for", "to", "in", "on", "and", "or", "is", "be", "by", "with", "at", "as", "this",
        "that", "it", "its", "from", "are", "will", "can", "which", "e.g", "eg", "if", "optional", "default", "your",
        "you", "use", "used", "given", "specified", "value", "values", "tool", "function", "returns", "return"}


def words_of(text: str) -> list[str]:
    """Lowercase words of an identifier or sentence: 'startDate' / 'start_date' -> ['start', 'date']."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(text))
    return [w for w in re.split(r"[^A-Za-z0-9]+", text.lower()) if w]


def humanize(name: str) -> str:
    return " ".join(words_of(name)) or name
