"""Requests that need no tool, for the schema task generator: facts, arithmetic, writing and small talk, each
category skipped when the tools cover the same ground (a calculator makes arithmetic a tool task).
"""

from __future__ import annotations

import random
import re

from ..tools.schemas import ToolSpec
from .vocab import COLORS, FIRST, SENTENCES, STOP, TOPICS, WORDS, words_of

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
            result = (re.sub(r"\ba (?=[aeiou])", "an ", query), "", "medium")
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
