"""Requests people write, for the schema task generator: a tool's description becomes an action ("search for
one-way flights"), its arguments become mentions ("from CDG to JFK on March 3, 2025", `tasks.mentions`), and a
request is one of several sentence shapes: an imperative, a polite question, a need ("I'd like to ..."), a question
for what a lookup returns ("What's the current weather in Paris?"), a terse fragment, a sentence opened by its date
or place, or a short context first ("I'm planning a trip."). Several calls are asked for in sequence ("First ...
Then ...": kind "multi") or together ("the weather in Paris and in Tokyo": kind "parallel"). Also the difficulty of
a task's calls.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Any

from ..tools.checks import resolve_pointer
from ..tools.schemas import ToolSpec
from .mentions import OBJECT, Chooser, Part, argument_parts, article, enum_values, join_parts
from .vocab import humanize, string_kind, words_of

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
_DETERMINERS = (r"(?:a|an|the|one|two|some|any|given|specified|provided|its|their|his|her|today's|specific|"
                r"particular|multiple|several|each|every|all|certain|another|other|different|your|which)")
# The generic tail of an action ("... between two airports on a date", "... for a city"): the mentions say it.
_CUT = re.compile(rf"\s+(?:(?:for|from|in|on|at|by|with|to|into|using|within|across|under|over|matching|near|"
                  rf"around|about|given|via|per|through|based on|according to)\s+{_DETERMINERS}\b|"
                  r"of\s+(?:a|an|one|two|some|any)\b|between\b|by\b|(?:returned|found|given|obtained|produced)\s+by\b|"
                  r"(?:that|which|who|where|and return|returning|and returns|and get|and ship|if)\b)"
                  r".*$|\s*[,:(].*$", re.I)
_RETRIEVAL = {"get", "fetch", "retrieve", "list", "search", "find", "check", "show", "look", "lookup", "query", "read",
              "return", "display", "provide", "give", "tell", "describe"}
_SEARCHING = {"search", "find", "look", "lookup", "query"}
_SYNONYMS = {"get": ["get", "check", "look up", "find"], "fetch": ["get", "look up"], "retrieve": ["get", "look up"],
             "return": ["get", "look up"], "search": ["search for", "find", "look for"],
             "find": ["find", "look for", "search for"], "list": ["list", "show"], "book": ["book", "reserve"],
             "create": ["create", "set up", "add"], "cancel": ["cancel", "call off"], "convert": ["convert", "change"],
             "track": ["track", "check on"], "calculate": ["calculate", "work out"], "compute": ["calculate"],
             "check": ["check", "look up"], "show": ["show", "list"], "lookup": ["look up"], "query": ["look up"],
             "display": ["show"], "provide": ["get"], "give": ["get"]}
_MONEYLIKE = {"a", "an", "the", "of", "some", "amount", "sum", "money", "currency", "currencies", "funds", "cash"}

# Short context a person gives before asking, by what the tools are about (their words).
_CONTEXTS = [
    ({"flight", "flights", "airport", "trip", "travel", "hotel", "visa", "car", "rent", "stay", "booking"},
     ["I'm planning a trip.", "We're travelling soon.", "Sorting out my travel plans.", "Trip planning time."]),
    ({"weather", "forecast", "temperature", "rain", "air", "quality"},
     ["Heading out later.", "Deciding what to pack.", "Planning a day outdoors."]),
    ({"currency", "money", "exchange", "payment", "invoice", "convert"},
     ["I'm budgeting for a trip.", "Settling a bill with a friend abroad.", "Paying a supplier."]),
    ({"event", "calendar", "meeting", "schedule", "reminder", "appointment"},
     ["Sorting out my calendar.", "My week is getting busy.", "Planning my week."]),
    ({"order", "product", "catalog", "shop", "cart", "purchase"},
     ["I'm doing some shopping.", "Shopping for a gift.", "I need to restock a few things."]),
    ({"email", "message", "mail", "send"}, ["I need to reach someone.", "Following up on something."]),
    ({"stock", "ticker", "market", "portfolio", "shares"}, ["Checking on my portfolio.", "Watching the market."]),
    ({"translate", "translation", "language"}, ["I'm writing to a colleague abroad."]),
]
_GENERIC_CONTEXTS = ["Quick question.", "I need a hand with something.", "One thing before I forget.",
                     "Okay, next thing.", "Busy day here."]


@dataclass
class Clause:
    """One action with its mentions: `verb` ("search for"), `obj` ("one-way flights"), `parts` (the mentions)."""

    verb: str
    obj: str
    parts: list[Part]
    base: str = ""  # the verb of the description ("search"), for the sentence shapes that fit it

    @property
    def retrieval(self) -> bool:
        """An action that looks something up, with an object that names what ("the current weather", not "the
        catalog for products"): it can be asked as a question."""
        return self.base in _RETRIEVAL and bool(self.obj) and " for " not in f" {self.obj} "

    @property
    def plural(self) -> bool:
        return _plural(self.obj)

    def vp(self) -> str:
        """'search for one-way flights from CDG to JFK on March 3, 2025'."""
        return " ".join(t for t in (self.verb, self.obj, join_parts(self.parts)) if t)

    def np(self, *, article_needed: bool = True) -> str:
        """'the current weather in Paris' (what a lookup returns, for "What's ...?")."""
        obj = self.obj
        if article_needed and not self.plural and not re.match(rf"{_DETERMINERS}\b", obj, re.I):
            obj = f"the {obj}"
        return " ".join(t for t in (obj, join_parts(self.parts)) if t)

    def without(self, part: Part) -> Clause:
        return replace(self, parts=[p for p in self.parts if p is not part])


def _plural(obj: str) -> bool:
    last = obj.split()[-1] if obj else ""
    return last.endswith("s") and not last.endswith(("ss", "us", "is")) or " and " in obj


def build_clause(tool: ToolSpec, arguments: dict, chooser: Chooser) -> Clause:
    """The action and mentions of one call.

    Args:
        tool: The tool.
        arguments: The call's arguments.
        chooser: Choices of this request (one argument is worded one way in every call of a request).
    """
    phrase = action_phrase(tool, chooser.rng("action", tool.name))
    head = _CUT.sub("", phrase).strip() or phrase
    base, _, obj = head.partition(" ")
    if obj and not re.match(rf"{_DETERMINERS}\b|[A-Z0-9]|for\b", obj) and not _plural(obj):
        # from a tool name: "get weather" -> "get the weather", "create event" -> "create an event"
        obj = f"the {obj}" if base in _RETRIEVAL else f"{article(obj)} {obj}"
    properties = {k: resolved_schema(tool.parameters, v) for k, v in tool.properties.items()}
    skip: set[str] = set()
    obj = _amount_into_object(obj, arguments, properties, chooser, skip)
    for key, value in arguments.items():  # "cancel an event" + event_id -> "cancel event EV-0042"
        words = words_of(key)
        if key in skip or isinstance(value, (bool, dict, list)) or len(words) < 2 or words[-1] not in (
                "id", "identifier", "number", "code", "ref", "key"):
            continue
        noun = " ".join(words[:-1])
        match = re.search(rf"\b(?:an?|the|this|that|some)\s+((?:[\w-]+\s+)?){re.escape(noun)}s?\b", obj)
        if match:
            obj = obj[:match.start()] + f"{match[1]}{noun} {chooser.say(key, value)}" + obj[match.end():]
            skip.add(key)
    noun = obj.split()[-1].lower() if obj else ""
    for key, value in arguments.items():  # "translate text" + text -> 'translate the text "Hola"'
        words = words_of(key)
        if key in skip or not words or words[-1] != noun or isinstance(value, (bool, dict, list)) or \
                enum_values(properties.get(key) or {}):
            continue
        spoken = chooser.say(key, value)
        if base in ("set", "change", "update", "adjust"):  # "set the log level" + level=3 -> "... to 3"
            obj = f"{obj} to {spoken}"
        elif isinstance(value, str) and string_kind(key, (properties.get(key) or {}).get("description") or "",
                                                    properties.get(key)) in ("message", "text", "query", "title"):
            quoted = spoken if spoken.startswith('"') else f'"{value}"'
            obj, done = re.subn(rf"^(?:(?:an?|the|some)\s+)?((?:[\w-]+\s+)*){re.escape(obj.split()[-1])}$",
                                rf"the \g<1>{obj.split()[-1]} {quoted}", obj)
            if not done:
                continue
        else:
            continue
        skip.add(key)
        break
    for key, value in arguments.items():  # "a hotel room" + room=double -> "a double hotel room"
        if key in skip or not isinstance(value, str) or not enum_values(properties.get(key, {})):
            continue
        noun = words_of(key)[-1] if words_of(key) else ""
        match = re.search(rf"\b(an?|the)\s+((?:[\w-]+\s+)*?){re.escape(noun)}\b", obj) if noun else None
        if match:
            spoken = chooser.say(key, value, spaced=True)
            lead = match[1] if match[1] == "the" else article(spoken)
            obj = obj[:match.start()] + f"{lead} {spoken} {match[2]}{noun}" + obj[match.end():]
            skip.add(key)
    parts = argument_parts(arguments, properties, chooser, obj=obj, skip=skip)
    verb = base
    if base in _SYNONYMS and " for " not in f" {obj} " and not obj.startswith("for "):
        verb = chooser.pick(f"verb|{tool.name}", _SYNONYMS[base])
    return Clause(verb, obj, parts, base=base)


def resolved_schema(root: dict, schema: Any) -> dict:
    """A parameter's schema with a `$ref` at its top resolved against the tool's parameters (`{}` for no schema).

    Args:
        root: The tool's parameters schema.
        schema: The parameter's schema.
    """
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        return {**(resolve_pointer(root, schema["$ref"]) or {}), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def _amount_into_object(obj: str, arguments: dict, properties: dict, chooser: Chooser, skip: set[str]) -> str:
    """'convert an amount of money' + amount 250, from_currency EUR -> 'convert 250 EUR'."""
    amount = next((k for k, v in arguments.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and set(words_of(k)) & {"amount", "sum"}), None)
    if amount is None:
        return obj
    currencies = [k for k, v in arguments.items() if isinstance(v, str) and "currency" in words_of(k)]
    unit = next((k for k in currencies if set(words_of(k)) & {"from", "source", "base"}), None) or (
        currencies[0] if len(currencies) == 1 else None)
    said = chooser.say(amount, arguments[amount]) + (f" {chooser.say(unit, arguments[unit])}" if unit else "")
    if not obj or set(words_of(obj)) <= _MONEYLIKE:
        obj = said
    elif re.search(r"\b(?:an?|the|some)\s+(?:amount|sum)(?:\s+of\s+\w+)?", obj):
        obj = re.sub(r"\b(?:an?|the|some)\s+(?:amount|sum)(?:\s+of\s+\w+)?", said, obj, count=1)
    else:
        return obj
    skip |= {amount} | ({unit} if unit else set())
    return obj


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_start(text: str) -> str:
    """A sentence continued after a lead ("On May 3, could you ..."): "I" and names keep their capital."""
    first = text.split(" ", 1)[0]
    if first in ("I", "I'd", "I'm", "I'll", "I've") or first[1:2].isupper():
        return text
    return text[:1].lower() + text[1:]


def _finish(text: str, end: str) -> str:
    """One request: spaces and punctuation tidied, a capital first letter, the end mark (unless a quote ends it)."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:?!])", r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    text = re.sub(r'([.?!]")[.]$', r"\1", text)  # 'saying "See you."' ends the sentence as it is
    if re.search(r"[.?!]\"$", text):
        return _cap(text)
    return _cap(text.rstrip(".?!,;: ")) + end


def _and(items: list[str], rng: random.Random) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + (", and " if len(items) > 2 and rng.random() < 0.3 else " and ") + items[-1]


def _context(tools: list[ToolSpec], rng: random.Random) -> str:
    vocab = set()
    for tool in tools:  # what the tool does, not how ("... at today's market rate") or what it returns
        first = re.split(r"[.!?;]", tool.description, maxsplit=1)[0]
        vocab |= set(words_of(tool.name)) | set(words_of(_CUT.sub("", first)))
    fitting = [c for words, contexts in _CONTEXTS if words & vocab for c in contexts]
    return rng.choice(fitting if fitting and rng.random() < 0.8 else _GENERIC_CONTEXTS)


def _ask(c: Clause, rng: random.Random, family: str) -> str:
    """The clause as one sentence of a family: imperative, polite, need, question, terse, np_need, how_much."""
    return _cap(_ask_lower(c, rng, family))


def _ask_lower(c: Clause, rng: random.Random, family: str) -> str:
    vp = c.vp()
    if family == "imperative":
        return rng.choice([f"{vp}.", f"{vp}, please.", f"Please {vp}.", f"{vp} for me."])
    if family == "polite":
        return rng.choice([f"Could you {vp}?", f"Can you {vp}?", f"Would you {vp}?", f"Could you please {vp}?",
                           f"Can you help me {vp}?", f"Would you mind helping me {vp}?", f"Can I ask you to {vp}?"])
    if family == "need":
        return rng.choice([f"I need to {vp}.", f"I'd like to {vp}.", f"I want to {vp}.", f"I need you to {vp}.",
                           f"Help me {vp}.", f"I'm trying to {vp}.", f"I'd like you to {vp}."])
    np = c.np()
    if family == "question":
        if c.plural and c.base in _SEARCHING:
            return rng.choice([f"Are there any {c.np(article_needed=False)}?", f"Can you find {np}?",
                               f"Do you have any {c.np(article_needed=False)}?"])
        if c.plural:
            return rng.choice([f"What are {np}?", f"Can you show me {np}?", f"Could you list {np}?"])
        return rng.choice([f"What's {np}?", f"What is {np}?", f"Do you know {np}?", f"Can you tell me {np}?"])
    if family == "terse":
        bare = re.sub(r"^the\s+", "", c.np(article_needed=False), flags=re.I)
        return rng.choice([f"{bare}?", f"{bare}, please.", f"{bare}?"])
    if family == "np_need":
        return rng.choice([f"I need {np}.", f"I'm looking for {np}.", f"Show me {np}.", f"Give me {np}.",
                           f"I'd like to know {np}." if not c.plural else f"I'd like to see {np}."])
    if family == "how_much":
        target = next(p for p in c.parts if p.target)
        rest = c.without(target)
        tail = join_parts(rest.parts)
        return rng.choice([f"How much is {c.obj} in {target.target}{' ' + tail if tail else ''}?",
                           f"What's {c.obj} in {target.target}{' ' + tail if tail else ''}?"])
    raise ValueError(family)


def _families(c: Clause) -> list[tuple[str, float]]:
    families = [("imperative", 2.0), ("polite", 3.0), ("need", 2.5)]
    if c.retrieval:
        families += [("question", 3.0), ("terse", 1.0), ("np_need", 2.0)]
    if c.base in ("convert", "exchange") and any(p.target for p in c.parts) and c.obj[:1].isdigit():
        families.append(("how_much", 2.5))
    return families


def _one_sentence(c: Clause, tools: list[ToolSpec], rng: random.Random) -> str:
    """A request for one clause (one call, or several calls of one tool merged)."""
    families = _families(c)
    shape = rng.choices(["plain", "lead", "context"], weights=[6, 1.5 if any(p.lead for p in c.parts) else 0, 2])[0]
    if shape == "lead":
        part = rng.choice([p for p in c.parts if p.lead])
        rest = c.without(part)
        family = rng.choices(*zip(*[f for f in _families(rest) if f[0] not in ("terse", "how_much")], strict=True))[0]
        text = f"{part.lead}, {_lower_start(_ask(rest, rng, family))}"
    else:
        family = rng.choices(*zip(*families, strict=True))[0]
        text = _ask(c, rng, family)
        if shape == "context" and family != "terse":
            text = f"{_context(tools, rng)} {text}"
    text = _finish(text, text.rstrip()[-1] if text.rstrip()[-1:] in ".?!" else ".")
    return _decorate(text, rng)


def _decorate(text: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.07:
        greeting = rng.choice(["Hi!", "Hello!", "Hey,", "Hi,"])
        return f"{greeting} {_lower_start(text) if greeting.endswith(',') else text}"
    if roll > 0.9 and not text.endswith('"'):
        return f"{text} {rng.choice(['Thanks!', 'Thank you.', 'Thanks in advance.', 'Cheers.'])}"
    return text


def single_request(tool: ToolSpec, arguments: dict, rng: random.Random) -> str:
    """A request that needs exactly this call.

    Args:
        tool: The tool.
        arguments: The call's arguments (every value is stated in the request).
        rng: Chooses the wording; the same state gives the same request.
    """
    return _one_sentence(build_clause(tool, arguments, Chooser(rng.random())), [tool], rng)


def multi_request(calls: list[tuple[ToolSpec, dict]], rng: random.Random) -> str:
    """A request for several calls in sequence: "First, ... Then ..." (the calls in this order).

    Args:
        calls: (tool, arguments) pairs, in the order they are to be made.
        rng: Chooses the wording.
    """
    chooser = Chooser(rng.random())
    clauses = [build_clause(tool, args, chooser) for tool, args in calls]
    vps = [c.vp() for c in clauses]
    if len(vps) > 2:
        middle = ". Then ".join(vps[1:-1])
        text = rng.choice([f"First, {vps[0]}. Then {middle}. After that, {vps[-1]}.",
                           f"{vps[0]}, then {', then '.join(vps[1:-1])}, and finally {vps[-1]}.",
                           f"I need to do a few things in order: {vps[0]}; then {'; then '.join(vps[1:])}."])
    else:
        a, b = vps
        shapes = [f"First, {a}. Then {b}.", f"{a}, then {b}.", f"Could you {a} and then {b}?",
                  f"I need to {a}. After that, {b}.", f"{a}. Once that's done, {b}.",
                  f"Please {a}, and after that {b}.", f"Before you {b}, {a}.", f"I'd like to {a}, and then {b}."]
        if clauses[0].retrieval:
            shapes.append(f"{_ask(clauses[0], rng, 'question')} Then {b}.")
        text = _cap(rng.choice(shapes))
        if rng.random() < 0.2:
            text = f"{_context([t for t, _ in calls], rng)} {text}"
    return _decorate(_finish(text, "?" if text.endswith("?") else "."), rng)


def parallel_request(calls: list[tuple[ToolSpec, dict]], rng: random.Random) -> str:
    """A request for several independent calls in one turn: one tool with different arguments ("the weather in
    Paris and in Tokyo") or different tools ("... and also ...").

    Args:
        calls: (tool, arguments) pairs; the same tool in all of them is said once, with what differs listed.
        rng: Chooses the wording.
    """
    chooser = Chooser(rng.random())
    tools = [t for t, _ in calls]
    if len({t.name for t in tools}) == 1:
        return _one_sentence(_merged(tools[0], [a for _, a in calls], chooser, rng), tools[:1], rng)
    clauses = [build_clause(tool, args, chooser) for tool, args in calls]
    vps = [c.vp() for c in clauses]
    first, rest = vps[0], vps[1:]
    shapes = [f"{_and(vps, rng)}.", f"Could you {_and(vps, rng)}?", f"I need to {_and(vps, rng)}.",
              f"Please {first}, and also {_and(rest, rng)}.", f"{first}. Also, {_and(rest, rng)}.",
              f"Can you {first} and, while you're at it, {_and(rest, rng)}?",
              f"{['Two', 'Three', 'Four'][min(len(vps), 4) - 2]} things: {'; '.join(vps[:-1])}; and {vps[-1]}."]
    if all(c.retrieval for c in clauses):
        shapes.append(f"What's {_and([c.np() for c in clauses], rng)}?")
    text = _cap(rng.choice(shapes))
    if rng.random() < 0.15:
        text = f"{_context(tools, rng)} {text}"
    return _decorate(_finish(text, "?" if text.endswith("?") else "."), rng)


def _merged(tool: ToolSpec, arguments: list[dict], chooser: Chooser, rng: random.Random) -> Clause:
    """One clause for several calls of one tool: what differs is listed ("in Paris and in Tokyo"), what they share
    is said once ("in celsius")."""
    clauses = [build_clause(tool, args, chooser) for args in arguments]
    same_obj = all(c.obj == clauses[0].obj for c in clauses)
    texts = [{p.keys: p.text for p in c.parts} for c in clauses]
    shared = [p for p in clauses[0].parts if all(t.get(p.keys) == p.text for t in texts)]
    shared_keys = {p.keys for p in shared}
    groups = []
    for c in clauses:
        units = ([] if same_obj else [c.obj]) + [join_parts([p for p in c.parts if p.keys not in shared_keys])]
        groups.append(" ".join(u for u in units if u))
    firsts = {g.split(" ", 1)[0] for g in groups}
    if same_obj and len(firsts) == 1 and rng.random() < 0.4 and all(" " in g for g in groups) and \
            next(iter(firsts)) in ("in", "for", "at", "on") and not any(" " in g.split(" ", 1)[1] for g in groups):
        prep = next(iter(firsts))
        names = [g.split(" ", 1)[1] for g in groups]
        both = "both " if len(names) == 2 and rng.random() < 0.3 else ""
        listed = f"{prep} {both}{_and(names, rng)}"  # "in (both) Paris and Tokyo"
    else:
        listed = _and(groups, rng)
    base = clauses[0]
    if same_obj:
        return Clause(base.verb, base.obj, [Part(listed, OBJECT, ("*",))] + shared, base=base.base)
    return Clause(base.verb, listed, shared, base=base.base)


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
