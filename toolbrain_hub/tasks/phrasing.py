"""Natural-language requests for the schema task generator: a tool's description becomes an imperative phrase,
arguments become words ("on May 7, 2025", "for Paris"), and requests get varied openers, closers and joins; also
"no tool needed" requests (facts, small talk, writing) and the difficulty of a task's calls.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from ..tools.schemas import ToolSpec
from .vocab import COLORS, FIRST, SENTENCES, STOP, TOPICS, WORDS, humanize, words_of

# Natural-language requests from tool descriptions

# Verbs that can start an imperative request ("get", "search", ...); descriptions starting otherwise get "get".
_VERBS = set("""get fetch retrieve list search find create add delete remove update send book schedule cancel convert
calculate compute translate check look lookup return set play order buy generate summarize read write post upload
download query track reserve open close start stop turn move rename share invite subscribe estimate predict analyze
analyse validate verify count sort filter compare recommend suggest show display provide give lookup resolve record
log save store load run execute submit approve reject assign mark mute unmute pause resume archive restore reply
forward call text message notify remind email publish edit modify change replace insert append fill rate review
register sign transfer pay charge refund withdraw deposit apply plan draft format parse extract classify detect
identify measure monitor ping test scan encode decode encrypt decrypt hash shorten expand lock unlock enable disable
tell explain describe answer solve suggest evaluate simulate render normalize round multiply divide subtract sum
aggregate merge split join clean reset refresh import export sync backup print draw""".split())
_THIRD_PERSON = {"does": "do", "has": "have", "goes": "go", "is": "be"}
_OPENERS = [("", "."), ("Please ", "."), ("Could you ", "?"), ("Can you ", "?"), ("Would you ", "?"),
            ("I need you to ", "."), ("I'd like you to ", "."), ("Help me ", "."), ("Go ahead and ", "."),
            ("Quick request: ", "."), ("Hey, can you ", "?"), ("When you get a chance, ", "."), ("I want to ", "."),
            ("Let's ", "."), ("Could you please ", "?"), ("Kindly ", "."), ("I'd like to ", "."),
            ("Hi! Please ", "."), ("Would you mind helping me ", "?"), ("Can I ask you to ", "?")]
_QUESTION_OPENERS = [("What's ", "?"), ("What is ", "?"), ("Tell me ", "."), ("I'd like to know ", "."),
                     ("Do you know ", "?"), ("Show me ", "."), ("Give me ", "."), ("Any idea what ", " is?")]
_CLOSERS = ["", "", "", " for me", " please", ", thanks", " right away", " when you can", ", if possible"]
_THEN = [", and then ", ". After that, ", ". Then ", ", and also ", ". Also, ", "; once that's done, ",
         ". Next, ", ", then ", ". ", ". And "]
_MULTI_OPENERS = ["", "", "Two things: ", "I need a couple of things. ", "First, ", "Hi! "]


def action_phrase(tool: ToolSpec, rng: random.Random) -> str:
    """An imperative verb phrase for the tool: 'Gets the weather for a city.' -> 'get the weather for a city'."""
    name_words = words_of(tool.name)
    first = re.split(r"(?<=[.!?])\s|\n|;|\s-\s|\s\(|:\s", tool.description.strip(), maxsplit=1)[0].strip().rstrip(".")
    first = re.sub(r"^(this (tool|function|endpoint|api)( will)?|tool (to|that|for)|use (this|it) to|"
                   r"a (tool|function) (that|to|for)|function (to|that)|allows? (you|users?) to|lets? (you|users?)|"
                   r"used to|helps? (you )?(to )?)\s+", "", first, flags=re.I)
    words = first.split()
    name_phrase = " ".join(name_words) if len(name_words) > 1 and name_words[0] in _VERBS else None
    if words:
        verb = words[0].lower()
        base = _THIRD_PERSON.get(verb) or _base_verb(verb, name_words[0] if name_words else "")
        if (base in _VERBS or name_words and base == name_words[0]) and len(words) <= 18:
            # Now and then use the tool name as the phrase ("get_current_weather" -> "get current weather").
            if name_phrase and rng.random() < 0.15:
                return name_phrase
            return " ".join([base] + words[1:])
    if name_phrase:
        return name_phrase
    if words and len(words) <= 12:
        return "get " + _lower_first(first)
    return "use " + humanize(tool.name)


def _base_verb(word: str, name_verb: str = "") -> str:
    """'gets' -> 'get', 'searches' -> 'search', 'queries' -> 'query'; `name_verb` is the tool name's first word."""
    known = _VERBS | ({name_verb} if name_verb else set())
    if word in known:
        return word
    if word.endswith("ies") and word[:-3] + "y" in known:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2] in known:
        return word[:-2]
    if word.endswith("s") and word[:-1] in known:
        return word[:-1]
    return word


def _lower_first(word: str) -> str:
    # Keep acronyms and names ("URL", "GitHub") as they are.
    if len(word) > 1 and (word[1:].lower() != word[1:] or word.isupper()):
        return word
    return word[:1].lower() + word[1:]


ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def say_value(value: Any, rng: random.Random) -> str:
    """A value as it would appear in a request: dates sometimes spelled out, free text in quotes."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "none"
    if isinstance(value, str):
        date = ISO_DATE.match(value)
        if date and 1 <= int(date[2]) <= 12 and rng.random() < 0.4:
            return f"{MONTHS[int(date[2]) - 1]} {int(date[3])}, {date[1]}"
        if _is_free_text(value):
            return f'"{value}"'
        return value
    if isinstance(value, list):
        parts = [say_value(v, rng) for v in value]
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    if isinstance(value, dict):
        inner = ", ".join(f"{humanize(k)} {say_value(v, rng)}" for k, v in value.items())
        return f"({inner})" if inner else "(empty)"
    return json.dumps(value)


def _is_free_text(value: str) -> bool:
    """Multi-word text that would blur into the sentence without quotes ("remote work", "Lunch is on me.")."""
    if " " not in value.strip():
        return False
    if re.search(r"[.,!?;:]", value) or len(value.split()) > 3:
        return True
    return not all(w[:1].isupper() or w[:1].isdigit() for w in value.split())  # "Buenos Aires" needs no quotes


def _is_proper(value: Any) -> bool:
    """Values that read well on their own in place of 'a city' / 'a date': names, ids, dates, numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and bool(value) and not _is_free_text(value) and (
        value[:1].isupper() or value[:1].isdigit() or "@" in value or "/" in value)


def _arg_phrase(key: str, value: Any, rng: random.Random) -> tuple[str, bool]:
    """(phrase, is_label_colon_form) for an argument not mentioned by the action phrase."""
    label = humanize(key)
    if isinstance(value, bool):
        choices = [(f"with {label} {'on' if value else 'off'}", False), (f"{label}: {'yes' if value else 'no'}", True),
                   (f"with {label} set to {str(value).lower()}", False)]
        return rng.choice(choices)
    spoken = say_value(value, rng)
    verb = "are" if isinstance(value, list) and len(value) > 1 else "is"
    return rng.choice([(f"with {label} {spoken}", False), (f"with {label} set to {spoken}", False),
                       (f"using {spoken} as the {label}", False), (f"where the {label} {verb} {spoken}", False),
                       (f"{label}: {spoken}", True), (f"for {label} {spoken}", False),
                       (f"with the {label} {spoken}", False)])


def _slot_into(phrase: str, key: str, value: Any, rng: random.Random) -> str | None:
    """Put a value where the description names its parameter: 'weather for a city' -> 'weather for Paris'."""
    if isinstance(value, (bool, dict, list)) or value is None:
        return None
    label = humanize(key)
    parts = label.split()
    names = [re.escape(label)]
    if len(parts) > 1 and len(parts[-1]) >= 4:
        names.append(re.escape(parts[-1]))  # "city name" -> "a city"? no: "start date" -> "a date"
    head = None
    if len(parts) > 1 and parts[-1] in ("id", "name", "code", "number", "key", "ref"):
        head = parts[0]  # "order id" -> "an order" becomes "order A12345"
    regex = re.compile(r"\b(?:a|an|the|some|any|given|specified|provided|one|specific)\s+"
                       r"(?:given\s+|specified\s+|particular\s+|specific\s+)?(" + "|".join(
                           names + ([re.escape(head)] if head else [])) + r")s?\b", re.I)
    match = regex.search(phrase)
    if not match:
        return None
    spoken = say_value(value, rng)
    if head and match.group(1).lower() == head:
        replacement = f"{head} {spoken}"
    elif _is_proper(value):
        replacement = spoken
    else:
        replacement = f"the {label} {spoken}"
    return phrase[: match.start()] + replacement + phrase[match.end():]


def describe_call(tool: ToolSpec, arguments: dict, rng: random.Random) -> str:
    """A verb phrase asking for this call, mentioning every argument value."""
    phrase = action_phrase(tool, rng)
    rest = []
    for key, value in arguments.items():
        slotted = _slot_into(phrase, key, value, rng)
        if slotted is not None:
            phrase = slotted
        else:
            rest.append(_arg_phrase(key, value, rng))
    if not rest:
        return phrase
    texts = [text for text, _ in rest]
    if all(colon for _, colon in rest):
        return phrase + rng.choice([" (" + "; ".join(texts) + ")", ", " + ", ".join(texts)])
    if len(texts) == 1:
        return phrase + (", " if rest[0][1] else " ") + texts[0]
    return phrase + (", " if rest[0][1] else " ") + ", ".join(texts[:-1]) + " and " + texts[-1]


def single_request(tool: ToolSpec, arguments: dict, rng: random.Random) -> str:
    phrase = describe_call(tool, arguments, rng)
    verb, _, obj = phrase.partition(" ")
    if verb in ("get", "fetch", "retrieve", "return", "find", "check", "show") and obj and rng.random() < 0.35:
        opener, end = rng.choice(_QUESTION_OPENERS)
        return _sentence(opener + obj, end)
    opener, end = rng.choice(_OPENERS)
    return _sentence(opener + phrase + rng.choice(_CLOSERS), end)


def multi_request(calls: list[tuple[ToolSpec, dict]], rng: random.Random) -> str:
    parts = [describe_call(tool, args, rng) for tool, args in calls]
    opener, end = rng.choice(_OPENERS)
    lead = rng.choice(_MULTI_OPENERS)
    if lead.endswith(", "):  # "First, could you ..." continues the sentence
        opener = opener[:1].lower() + opener[1:]
    text = lead + opener + parts[0]
    for part in parts[1:]:
        joiner = rng.choice(_THEN)
        new_sentence = joiner.startswith(".")
        if new_sentence:  # the question mark of "Could you ...?" no longer fits the end
            end = "."
        text += joiner + (_upper_first(part) if new_sentence and joiner.endswith(". ") else part)
    return _sentence(text, end)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str, end: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().rstrip(".?!,;")
    return _upper_first(text) + end


# "No tool needed" requests: (category, difficulty, template, answer maker). Categories are skipped when the tools
# cover the same ground (a calculator makes arithmetic a tool task).
_NEGATIVE_BLOCKERS = {
    "arithmetic": {"calculate", "calculator", "math", "arithmetic", "compute", "evaluate", "expression",
                   "multiply", "divide", "subtract"},
    "knowledge": {"web", "wikipedia", "wiki", "knowledge", "encyclopedia", "trivia", "internet", "google", "facts"},
    "writing": {"write", "poem", "haiku", "story", "synonym", "thesaurus", "joke", "jokes", "rephrase",
                "paraphrase", "creative", "quote", "quotes"},
    "small_talk": set(),
}
_CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Canada": "Ottawa", "Egypt": "Cairo",
             "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo", "Portugal": "Lisbon", "Ireland": "Dublin",
             "Greece": "Athens", "Chile": "Santiago", "Sweden": "Stockholm", "Austria": "Vienna", "Spain": "Madrid",
             "Germany": "Berlin", "Poland": "Warsaw", "Thailand": "Bangkok", "Argentina": "Buenos Aires",
             "Finland": "Helsinki", "Hungary": "Budapest", "Vietnam": "Hanoi", "Colombia": "Bogota",
             "Denmark": "Copenhagen", "Morocco": "Rabat", "Cuba": "Havana", "Nepal": "Kathmandu"}
_FACTS = [("How many days are in a leap year?", "366"), ("How many continents are there?", "7"),
          ("Who wrote Romeo and Juliet?", "William Shakespeare"), ("What is the chemical symbol for gold?", "Au"),
          ("What is the boiling point of water at sea level in Celsius?", "100"),
          ("How many sides does a hexagon have?", "6"), ("What planet is known as the Red Planet?", "Mars"),
          ("How many minutes are in an hour?", "60"), ("What is the largest ocean on Earth?", "Pacific Ocean"),
          ("Which gas do plants absorb from the air for photosynthesis?", "Carbon dioxide"),
          ("How many legs does a spider have?", "8"), ("What is the chemical formula of water?", "H2O"),
          ("Who painted the Mona Lisa?", "Leonardo da Vinci"), ("How many players are on a soccer team?", "11"),
          ("What is the smallest prime number?", "2"), ("How many hours are in a day?", "24"),
          ("Which planet is closest to the Sun?", "Mercury"), ("What is the freezing point of water in Celsius?", "0"),
          ("How many strings does a standard guitar have?", "6"), ("What is the longest river in Africa?", "Nile"),
          ("In which year did the first person walk on the Moon?", "1969"),
          ("What is the hardest natural material?", "Diamond"), ("How many bones are in the adult human body?", "206"),
          ("Which language has the most native speakers?", "Mandarin Chinese"),
          ("What is the square root of 81?", "9")]
_SMALL_TALK = ["How's your day going?", "Thanks a lot, that was really helpful.", "Good morning!",
               "What kinds of things can you help me with?", "Who am I talking to?",
               "That's all for now, have a nice evening.", "Nice to meet you, I'm {name}.",
               "I'm {name}, just saying hello.", "How are you doing today?", "You've been great, thank you!",
               "{name} here, hope you're well.", "Ok, sounds good. Bye!", "Can you keep things short from now on?",
               "Just testing whether you're online.", "Good night, talk tomorrow.", "Do you have a favorite color?",
               "Are you a robot?", "Never mind, I figured it out myself.", "Sorry, wrong window!", "Happy Friday!",
               "What should I call you?", "Could you be a bit more formal with me?", "I appreciate your patience.",
               "Long day today, just wanted to say hi.", "My friend {name} says hello.", "Cool, thanks!",
               "Please answer in shorter sentences.", "Do you ever sleep?", "That made me laugh, thanks."]
_WRITING = ["Write a haiku about {topic}.", "Give me a one-line motivational quote about {topic}.",
            "Suggest a name for a {color} cat.", "Explain in one sentence what {topic} is.",
            "Give me a synonym for the word '{word}'.", "Write a two-sentence story about a {word}.",
            "Tell me a short joke about {topic}.", "Rephrase this more politely: '{sentence}'",
            "Write a limerick about a {color} {word}.", "Give me three fun facts about {topic}.",
            "Write a short birthday message for {name}.", "Suggest a catchy title for a blog post on {topic}."]


def negative_request(rng: random.Random, tool_words: set[str]) -> tuple[str, str, str] | None:
    """A (query, gold answer, difficulty) that needs no tool, or None if every category overlaps the tools."""
    categories = [cat for cat, block in _NEGATIVE_BLOCKERS.items() if not block & tool_words]
    if not categories:
        return None
    for _ in range(6):
        cat = rng.choice(categories)
        if cat == "arithmetic":
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            op, word = rng.choice([("+", "plus"), ("-", "minus"), ("*", "times")])
            answer = str({"+": a + b, "-": a - b, "*": a * b}[op])
            query = rng.choice([f"What is {a} {word} {b}?", f"Quick math: {a} {word} {b}?",
                                f"Can you work out {a} {word} {b} in your head?"])
            result = (query, answer, "medium")
        elif cat == "knowledge":
            if rng.random() < 0.5:
                country = rng.choice(sorted(_CAPITALS))
                query = rng.choice([f"What is the capital of {country}?", f"Which city is the capital of {country}?"])
                result = (query, _CAPITALS[country], "medium")
            else:
                query, answer = rng.choice(_FACTS)
                result = (query, answer, "medium")
        elif cat == "writing":
            query = rng.choice(_WRITING).format(topic=rng.choice(TOPICS), word=rng.choice(WORDS),
                                                sentence=rng.choice(SENTENCES), color=rng.choice(COLORS),
                                                name=rng.choice(FIRST))
            result = (query, "", "medium")
        else:
            result = (rng.choice(_SMALL_TALK).format(name=rng.choice(FIRST)), "", "easy")
        # Skip a request that shares content words with the tools (e.g. "weather" small talk for a weather tool).
        if not (set(words_of(result[0])) - STOP) & tool_words:
            return result
    return None


def tool_vocabulary(tools: list[ToolSpec]) -> set[str]:
    vocab: set[str] = set()
    for tool in tools:
        vocab |= set(words_of(tool.name)) | set(words_of(tool.description))
        for key in tool.properties:
            vocab |= set(words_of(key))
    return {w for w in vocab if len(w) >= 3} - STOP


def difficulty_of(calls: list[dict]) -> str:
    """easy: one call with <= 2 plain arguments; hard: several calls with > 3 values in all, or deep nesting."""
    if not calls:
        return "easy"
    leaves = sum(_leaves(c.get("arguments") or {}) for c in calls)
    nested = any(isinstance(v, (dict, list)) for c in calls for v in (c.get("arguments") or {}).values())
    if len(calls) > 1:
        return "hard" if leaves > 3 or nested else "medium"
    if leaves <= 2 and not nested:
        return "easy"
    return "hard" if leaves > 5 else "medium"


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value) or 1
    return 1
