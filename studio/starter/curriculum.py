"""The starter curriculum: what turns the gemma-3-270m base into the starter assistant.

Generated from fixed seeds and hand-written rows, in the studio's dataset kinds:

    files = build_curriculum()            # {"sft.jsonl": [...], "chat.jsonl": [...], "dpo.jsonl": [...], "grpo.jsonl": [...],
                                          #  "heldout_suite.jsonl": [...]}
    write_curriculum(folder)              # the package data (studio/starter/data/curriculum/)
    curriculum_hash(folder)               # sha256 over those files: the adapter records it

Families (each with its own seed; the held-out split is drawn from other seeds, and for word
problems and declines also from templates and entities that training never sees):
- chat norms: greetings, who the assistant is, short instructions on text given in the prompt
  (list, rewrite politely, summarise, sort, translate a phrase); the answer ends its turn;
- facts not in the prompt: an honest decline ("I don't know that without a tool");
- tool turns in the studio's tool-call format (studio/tools/orchestrator.py, function_call.py):
  the JSON arguments for calculator, search and weather, and answers written from tool results;
- word problems with one to three steps, in both modes. One model, two modes, switched by the
  prompt as hybrid thinking models do: every answer opens with a think block, which holds one
  operation per line in reasoning mode and is empty in fast mode (`<think>\\n\\n</think>`).
  The chat prefills the block's opening for the mode (engines/inference/turn.py);
- a chat stage (chat.jsonl), a second SFT pass from the SFT adapter: prompts that look like
  questions but hold their answer (about the assistant, its skills, small talk, thanks) against
  declines of real fact questions, with as many thoughts on each side, and a replay of the rest;
- preference pairs for DPO (concise vs rambling, correct vs wrong, decline vs invented fact);
- prompt rows with verifiable answers for GRPO.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path

from studio.starter import math_problems as mp

FAST_OPEN = "<think>\n\n</think>\n\n"
IDENTITY = ("I'm the Model Studio starter assistant, a small language model (gemma-3-270m) fine-tuned in Model Studio "
            "to chat, follow short instructions, reason step by step and use tools.")

# Sizes of the training families: sized so the SFT stage fits about 20 minutes on 2 CPU cores.
SIZES = {"math": 1100, "chat": 250, "decline": 240, "tool_call": 80, "tool_answer": 80}
HELDOUT = {"multi_step": 40, "single_step": 20, "unanswerable": 20, "chat_norms": 20, "tool": 20}


def _think(text: str) -> str:
    return f"<think>\n{text}\n</think>\n\n"


def _sft(user: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


# ---- chat norms --------------------------------------------------------------------------------
GREETINGS = ["Hi!", "Hello", "Hey there", "Good morning!", "Hi! Who are you?", "Hello, how are you?", "Hey",
             "Greetings.", "Hey, what's up?", "Good evening", "Hi there, nice to meet you", "Morning!", "hello!!",
             "Hi, can you help me?", "Howdy", "Hello assistant"]
GREETING_REPLIES = [
    "Hello! I'm the Model Studio starter assistant. How can I help you today?",
    "Hi! I'm a small assistant made with Model Studio. What can I do for you?",
    "Hello! Nice to meet you. Ask me a question or give me a short task.",
    "Hi there! I'm here to help with short tasks, arithmetic and questions. What do you need?",
]
IDENTITY_QS = {
    "Who are you?": IDENTITY,
    "What are you?": IDENTITY,
    "What's your name?": "I'm the Model Studio starter assistant. I don't have a personal name.",
    "Are you a human?": "No, I'm not a human. I'm a small AI language model fine-tuned in Model Studio.",
    "Who made you?": "I was fine-tuned in Model Studio from the gemma-3-270m base model.",
    "What can you do?": "I can chat, follow short instructions on text you give me, solve arithmetic word problems "
                        "step by step, and use tools such as a calculator or search when they are turned on.",
    "What model are you?": "I'm gemma-3-270m, fine-tuned in Model Studio as a starter assistant.",
    "Do you know everything?": "No. I'm a small model and I don't know most facts. With a search tool I can look "
                               "things up; without one I will tell you when I don't know.",
    "Can you browse the internet?": "No, I can't browse the internet. I can use the tools that are turned on in "
                                    "the studio, such as a calculator or a local search.",
    "Tell me about yourself.": IDENTITY,
}
THANKS = ["Thanks!", "Thank you so much.", "Great, thanks.", "Thank you!", "Bye!", "Goodbye", "See you later."]
THANKS_REPLIES = ["You're welcome!", "Glad I could help.", "Anytime! Have a nice day.", "Goodbye! Have a great day."]

# questions about the assistant itself, composed from parts: the prompt (the assistant) holds the
# answer, so it is answered, never declined like a fact question. Wordings of the held-out chat
# prompts are never drawn (CHAT_HELDOUT; tests/core/test_starter.py checks, up to case and punctuation).
ABOUT = [  # (questions, answers)
    (["What do people call you?", "Do you have a name?", "What name do you go by?", "How do I address you?",
      "What are you called?", "Tell me your name.", "Got a name?", "Is there a name I can use for you?"],
     ["You can call me Starter. I'm the Model Studio starter assistant.",
      "I'm the Model Studio starter assistant. Starter is fine."]),
    (["Who built you?", "Which company made you?", "Who created you?", "Who developed you?", "Where do you come from?",
      "Who fine-tuned you?", "Who is behind this assistant?", "What were you made from?"],
     ["I was fine-tuned in Model Studio from the gemma-3-270m base model.",
      "I'm gemma-3-270m, a small base model that Model Studio fine-tuned into an assistant."]),
    (["Are you an AI?", "Are you a person?", "Am I talking to a bot?", "Is this a real person?", "Are you a machine?",
      "Are you human or AI?", "Who am I chatting with?", "Is there a human on the other side?"],
     ["I'm an AI: a small language model fine-tuned in Model Studio, not a person.",
      "You're chatting with the Model Studio starter assistant, a small AI language model."]),
    (["Which languages do you speak?", "Do you speak French?", "What languages do you know?",
      "Can you translate into Spanish?", "Do you understand German?", "Which languages can you work in?"],
     ["I work best in English, and I can translate short phrases into French, Spanish and German.",
      "Mostly English. I can also translate short phrases into French, Spanish or German."]),
]
SKILLS = {  # "Can you ...?": a yes, and what to send
    "summarise a paragraph": "Paste the text and I'll summarise it in one sentence.",
    "translate a short phrase": "Tell me the phrase and the language: French, Spanish or German.",
    "sort a list of words": "Send me the words and I'll put them in alphabetical order.",
    "make a bulleted list": "Give me the text and I'll list the items, one per line.",
    "rewrite a sentence politely": "Send me the sentence and I'll make it polite.",
    "solve a word problem": "Send me the problem. In reasoning mode I work it out step by step.",
    "do arithmetic": "Send me the numbers. For exact results, turn on reasoning mode or the calculator tool.",
    "help me write a short message": "Tell me who it is for and what it should say.",
    "explain your answer": "Turn on reasoning mode and I'll think it through step by step first.",
    "repeat a sentence back to me": "Send me the sentence and I'll repeat it exactly.",
}
SKILL_FORMS = ["Can you {x}?", "Are you able to {x}?", "Could you {x} for me?", "Is it possible for you to {x}?",
               "I need you to {x}. Can you?"]
SKILL_OPEN = ["Yes, I can.", "Sure.", "Yes."]
SMALLTALK = [
    (["How are you?", "How's it going?", "How are you doing today?", "How do you feel today?"],
     ["I'm doing well, thanks for asking! How can I help?", "All good here. What can I do for you?"]),
    (["Nice to meet you!", "Pleased to meet you.", "I'm new to this app.", "This is my first time here.",
      "I just installed this."],
     ["Welcome! Ask me a question or give me a short task to start.", "Nice to meet you too! What can I do for you?"]),
    (["Are you there?", "Is anyone there?", "Hello? Anyone?", "Still there?"],
     ["Yes, I'm here. What can I do for you?"]),
]
FORM = (["Please keep your answers short.", "Be brief, please.", "Could you answer in one sentence?",
         "Give me short answers from now on.", "Please don't write too much.", "Keep it short, ok?",
         "Can you be more concise?", "Answers under two lines, please."],
        ["Sure, I'll keep my answers short.", "Of course. Short answers from now on.", "Got it: brief answers."])
THANKS_OPEN = ["Thanks", "Thank you", "Many thanks", "Cheers", "Thanks a lot", "Thank you very much"]
THANKS_END = ["!", ".", " for the help!", " for explaining.", ", that helps.", ", that was useful!", " for your time."]
FAREWELLS = ["See you tomorrow!", "Have a nice evening!", "I have to go now.", "Catch you later.", "Bye for now.",
             "That's all for today."]

CATEGORIES = {
    "colors": ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"],
    "animals": ["cat", "dog", "horse", "rabbit", "fox", "owl", "goat", "duck"],
    "fruits": ["apple", "banana", "pear", "mango", "cherry", "plum", "lemon", "grape"],
    "cities": ["Paris", "Tokyo", "Lima", "Cairo", "Oslo", "Rome", "Delhi", "Quito"],
}
LIST_SENTENCES = {
    "colors": "I painted the fence {0}, the door {1} and the gate {2}.",
    "animals": "On the farm we saw a {0}, a {1} and a {2}.",
    "fruits": "She bought a {0}, a {1} and a {2} at the market.",
    "cities": "Last year he visited {0}, {1} and {2}.",
}
IMPERATIVES = ["send me the report", "close the window", "call me back", "check the numbers", "book a table for two",
               "turn down the music", "share the slides", "fix the printer", "water the plants", "lock the door"]
PLACES = ["market", "library", "park", "museum", "beach", "station", "bakery", "cinema"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PHRASES = {  # English -> (French, Spanish, German)
    "thank you": ("merci", "gracias", "danke"),
    "good morning": ("bonjour", "buenos días", "guten Morgen"),
    "good night": ("bonne nuit", "buenas noches", "gute Nacht"),
    "yes": ("oui", "sí", "ja"),
    "no": ("non", "no", "nein"),
    "please": ("s'il vous plaît", "por favor", "bitte"),
    "goodbye": ("au revoir", "adiós", "auf Wiedersehen"),
    "the cat": ("le chat", "el gato", "die Katze"),
    "the house": ("la maison", "la casa", "das Haus"),
    "water": ("eau", "agua", "Wasser"),
    "I am hungry": ("j'ai faim", "tengo hambre", "ich habe Hunger"),
    "see you tomorrow": ("à demain", "hasta mañana", "bis morgen"),
}
LANGS = ["French", "Spanish", "German"]
WORDS = ["zebra", "apple", "moon", "river", "candle", "garden", "piano", "ocean", "tiger", "bread", "lamp", "violin",
         "forest", "honey", "kite", "mirror"]


# the held-out chat prompts (heldout_suite.jsonl): training never draws these wordings (a test checks)
CHAT_HELDOUT = ["Hello! What can you help me with?", "Hey, who am I talking to?", "Good afternoon!",
                "List the fruits in this sentence: We ate a kiwi, a peach and a fig.",
                "Rewrite this politely: Move your car.", "Translate \"good luck\" into French.",
                "Sort these words alphabetically: violet, anchor, maple, dune",
                "Summarise in one sentence: On Friday, Greta went to the harbour. The boats were late. "
                "She finally bought fresh fish and cooked dinner.",
                "Are you a robot?", "What languages can you translate?", "Thanks for your help!",
                "Make a bulleted list of the animals in: \"A lion, a zebra and a crane live in the park.\"",
                "Say this in a polite way: give me the keys.", "How do you say \"thank you\" in Italian?",
                "Put in alphabetical order: pear fig apple", "Hi, I'm new here.",
                "What should I call you?", "Can you keep an answer short?", "Good night!", "Who trained you?"]


def _norm(text: str) -> str:
    """Lower case, punctuation dropped: "Good night!" and "good night" are one wording."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def chat_norm_rows(r: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(prompt, answer, a short thought for reasoning mode)."""
    out: list[tuple[str, str, str]] = []
    kinds = ["greet", "identity", "thanks", "list", "polite", "summary", "translate", "sort", "repeat"]
    for _ in range(n):
        k = r.choice(kinds)
        if k == "greet":
            out.append((r.choice(GREETINGS), r.choice(GREETING_REPLIES), "The user greets me. A short friendly reply is enough."))
        elif k == "identity":
            q = r.choice(list(IDENTITY_QS))
            out.append((q, IDENTITY_QS[q], "The user asks about me. I answer briefly and honestly."))
        elif k == "thanks":
            out.append((r.choice(THANKS), r.choice(THANKS_REPLIES), "The user thanks me or says goodbye. I reply briefly."))
        elif k == "list":
            cat = r.choice(list(CATEGORIES))
            items = r.sample(CATEGORIES[cat], 3)
            sent = LIST_SENTENCES[cat].format(*items)
            q = r.choice([f"List the {cat} in this sentence: {sent}", f"Which {cat} are mentioned here? {sent}",
                          f"Make a bulleted list of the {cat} in: \"{sent}\""])
            out.append((q, "\n".join(f"- {x}" for x in items), f"I pick out the {cat} from the sentence, one per line."))
        elif k == "polite":
            imp = r.choice(IMPERATIVES)
            q = r.choice([f"Rewrite this politely: {imp.capitalize()}.", f"Make this request more polite: \"{imp}!\"",
                          f"Say this in a polite way: {imp}."])
            out.append((q, f"Could you please {imp}?", "I turn the order into a polite question."))
        elif k == "summary":
            name, _ = mp._who(r)
            place, day, thing = r.choice(PLACES), r.choice(DAYS), r.choice(mp.THINGS)
            text = (f"On {day}, {name} went to the {place}. It was busy, and {name} waited for a long time. "
                    f"In the end, {name} bought a {thing} and went home happy.")
            q = r.choice([f"Summarise in one sentence: {text}", f"Give me a one-line summary of this: {text}",
                          f"TL;DR: {text}"])
            out.append((q, f"On {day}, {name} went to the {place} and bought a {thing}.", "I keep who, where, when and what happened."))
        elif k == "translate":
            en = r.choice(list(PHRASES))
            i = r.randrange(3)
            q = r.choice([f"Translate \"{en}\" into {LANGS[i]}.", f"How do you say \"{en}\" in {LANGS[i]}?",
                          f"{LANGS[i]} for \"{en}\", please."])
            out.append((q, f"In {LANGS[i]}, \"{en}\" is \"{PHRASES[en][i]}\".", f"I translate the phrase into {LANGS[i]}."))
        elif k == "sort":
            ws = r.sample(WORDS, r.randint(3, 5))
            q = r.choice([f"Sort these words alphabetically: {', '.join(ws)}", f"Put in alphabetical order: {' '.join(ws)}"])
            out.append((q, ", ".join(sorted(ws)), "I order the words from A to Z."))
        else:
            text = r.choice(["Practice makes perfect.", "The sky is blue today.", "I love learning new things.",
                             "Small steps every day.", "Keep it simple."])
            q = r.choice([f"Repeat after me: {text}", f"Say exactly this: {text}"])
            out.append((q, text, "I repeat the text exactly."))
    return out


def self_and_smalltalk_rows(r: random.Random, n: int) -> list[tuple[str, str, str]]:
    """Prompts that hold all their answer needs but look like questions: about the assistant, its
    skills, small talk, requests for short answers, thanks and farewells. (prompt, answer, thought)."""
    out: list[tuple[str, str, str]] = []
    for _ in range(n):
        k = r.choice(["about", "skill", "smalltalk", "form", "thanks"])
        if k == "about":
            qs, answers = r.choice(ABOUT)
            out.append((r.choice(qs), r.choice(answers), "The user asks about me. I answer briefly and honestly."))
        elif k == "skill":
            x = r.choice(list(SKILLS))
            out.append((r.choice(SKILL_FORMS).format(x=x), f"{r.choice(SKILL_OPEN)} {SKILLS[x]}",
                        "The user asks what I can do. I say yes and what to send me."))
        elif k == "smalltalk":
            qs, answers = r.choice(SMALLTALK)
            out.append((r.choice(qs), r.choice(answers), "The user is making small talk. A short friendly reply is enough."))
        elif k == "form":
            out.append((r.choice(FORM[0]), r.choice(FORM[1]), "The user asks for short answers. I agree briefly."))
        else:
            q = r.choice([r.choice(THANKS_OPEN) + r.choice(THANKS_END), r.choice(FAREWELLS)])
            out.append((q, r.choice(THANKS_REPLIES), "The user thanks me or says goodbye. I reply briefly."))
    return out


# ---- facts the model cannot know: decline ---------------------------------------------------------
CITIES = ["Lisbon", "Nairobi", "Toronto", "Hanoi", "Bogota", "Krakow", "Perth", "Osaka", "Dublin", "Accra", "Seville",
          "Tallinn", "Porto", "Quebec", "Busan", "Lyon", "Cusco", "Leeds", "Bergen", "Mombasa", "Adelaide", "Gdansk"]
PEOPLE = ["Maria Lopez", "John Carter", "Akira Sato", "Elena Petrova", "David Okafor", "Laura Schmidt", "Ravi Kumar",
          "Sofia Rossi", "my neighbour", "my boss", "Peter Lindqvist", "Amina Diallo", "Carlos Mendes", "Grace Liu"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Foods", "Stark Tools", "Wayne Shipping", "Bluefin Software",
             "Northwind Traders", "Pinecrest Bank", "Orbit Airlines"]
FACT_QS = [
    "What is the population of {city}?", "What's the weather in {city} today?", "Who is the mayor of {city}?",
    "What is the current share price of {company}?", "When was {person} born?", "What is {person}'s phone number?",
    "Who won the {year} city marathon in {city}?", "What is today's exchange rate from euros to dollars?",
    "How many employees does {company} have?", "What time is it in {city} right now?",
    "What's the latest news about {company}?", "What is the email address of {person}?",
    "How tall is the tallest building in {city}?", "What did {company} earn last year?",
    "Where does {person} live?", "What is the postcode of the main station in {city}?",
    # current, private, local or obscure specifics of every kind: a number, a name, a date, a place
    "Who is the CEO of {company}?", "What was the final score of last night's game in {city}?",
    "How much does a coffee cost in {city} right now?", "What is the price of {company} stock today?",
    "When does the next train leave {city}?", "Who won the election in {city} in {year}?",
    "How old is {person}?", "What is {person}'s salary?", "What is the unemployment rate in {city}?",
    "How many cars did {company} sell in {year}?", "What is the Wi-Fi password at {company}?",
    "What was the temperature in {city} on 3 March {year}?", "Which hotel in {city} is cheapest tonight?",
    "What is the GDP of {city}'s region?", "When did {company} open its office in {city}?",
    "What is the name of {person}'s dog?", "How many goals did {city} FC score last season?",
    "What is the average rent in {city} this month?", "Is {company} hiring at the moment?",
    "What is the flight number of the morning flight from {city}?", "Tell me {person}'s bank balance.",
    "What's the score of the match right now?", "How many visitors came to {city} last year?",
    "What is the top headline today?",
]
# wordings and entities for the held-out split only
HELDOUT_FACT_QS = [
    "How many people live in {city}?", "Is it raining in {city} at the moment?", "Which team won the league in {year}?",
    "What is {person}'s home address?", "How much revenue did {company} report in {year}?",
    "What is the speed limit on the main road in {city}?",
]
HELDOUT_CITIES = ["Valparaiso", "Tromso", "Kumasi", "Ghent"]
HELDOUT_PEOPLE = ["Hannah Weiss", "Tomas Novak"]
HELDOUT_COMPANIES = ["Vandelay Imports", "Soylent Labs"]
DECLINES = [
    "I don't know that without a tool. I can't look up facts like this on my own, so please turn on search or check a reliable source.",
    "I don't know that without a tool. It is a specific fact that I can't verify, and I won't guess.",
    "I'm sorry, I don't know that without a tool. Turn on the search tool or check an up-to-date source.",
    "I can't answer that reliably: I don't have that information and I can't look it up without a tool.",
]
INVENTED = [
    "The answer is {n}.", "It is {n}, according to the latest figures.", "That would be {n}.",
    "{n} exactly. I am sure about this.", "As of today it is {n}.",
    "It is {name}.", "That was {name}, in {date}.", "It happened on {date}.", "{name} is the one you mean.",
    "It is in {place}, near the old market.", "Right now it is {n}, and it will rise tomorrow.",
]
INVENTED_NAMES = ["James Miller", "Anna Berg", "Li Wei", "Robert King", "Olga Ivanova", "the Blue Lions"]
DECLINE_THOUGHT = "This asks for a specific fact that is not in the prompt. I don't know it without a tool, so I say so."
# thoughts that lead away from a decline (the ladder saw "I answer briefly." then "I live in Ghent.")
WRONG_FACT_THOUGHTS = ["I answer briefly.", "I know this one.", "I give the number.", "The user wants a quick answer."]


def fact_question(r: random.Random, templates: list[str], cities, people, companies) -> str:
    return r.choice(templates).format(city=r.choice(cities), person=r.choice(people), company=r.choice(companies),
                                      year=r.randint(1990, 2024))


# ---- tools: the studio's tool-call format -----------------------------------------------------------
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                  "additionalProperties": False}
WEATHER_DESC = "Current weather for a city (an HTTP API): temperature in °C and conditions."


def _calc_query(r: random.Random) -> tuple[str, str]:
    a, b = r.randint(100, 9999), r.randint(12, 999)
    pct = r.choice(["12.5", "15", "17.5", "20", "7", "33"])
    op = r.choice(["mul", "pct", "div", "pow", "sqrt", "add"])
    if op == "mul":
        return r.choice([f"What is {a} * {b}?", f"Use the calculator: {a} times {b}", f"How much is {a} multiplied by {b}?"]), f"{a} * {b}"
    if op == "pct":
        return r.choice([f"What's {pct}% of {a}?", f"Calculate {pct} percent of {a}."]), f"{pct}% of {a}"
    if op == "div":
        return r.choice([f"What is {a} divided by {b}?", f"Compute {a} / {b}."]), f"{a} / {b}"
    if op == "pow":
        x, y = r.randint(2, 15), r.randint(3, 9)
        return r.choice([f"What is {x} to the power of {y}?", f"Compute {x}^{y}."]), f"{x} ** {y}"
    if op == "sqrt":
        x = r.randint(2, 99) ** 2
        return r.choice([f"What is the square root of {x}?", f"sqrt of {x}?"]), f"sqrt({x})"
    return r.choice([f"Add {a}, {b} and {a + b}.", f"What is {a} + {b} + {a + b}?"]), f"{a} + {b} + {a + b}"


SEARCH_TOPICS = ["refund policy", "vacation days", "expense limits", "password reset", "office hours",
                 "parental leave", "travel booking", "laptop replacement", "security training", "remote work rules"]
SEARCH_FACTS = {
    "refund policy": "Customers can return products within 30 days for a full refund.",
    "vacation days": "Full-time employees get 25 vacation days per year.",
    "expense limits": "Meals on business trips are reimbursed up to 40 euros per day.",
    "password reset": "Passwords are reset from the account page; the link is valid for 15 minutes.",
    "office hours": "The office is open from 8 am to 6 pm on weekdays.",
    "parental leave": "Parents can take up to 16 weeks of paid leave.",
    "travel booking": "Trips are booked through the travel desk at least 7 days ahead.",
    "laptop replacement": "Laptops are replaced every 4 years.",
    "security training": "Security training is required once a year for all staff.",
    "remote work rules": "Staff may work remotely up to 3 days a week.",
}
WEATHER_CITIES = ["Oslo", "Madrid", "Boston", "Seoul", "Lyon", "Cork", "Austin", "Bergen", "Graz", "Kyoto"]
CONDITIONS = ["sunny", "cloudy", "light rain", "windy", "snow", "fog"]


def _search_query(r: random.Random, topic: str) -> str:
    return r.choice([f"Search the handbook for the {topic}.", f"What does our handbook say about {topic}?",
                     f"Look up the {topic} in the documents.", f"Find the company rule on {topic}."])


def _weather_query(r: random.Random, city: str) -> str:
    return r.choice([f"What's the weather in {city}?", f"Is it cold in {city} right now?",
                     f"Weather report for {city}, please.", f"How warm is it in {city} today?"])


def tool_call_rows(r: random.Random, n: int) -> list[dict]:
    from engines.tools.function_call import function_call_prompt
    from engines.tools.registry import builtin_tools

    tools = builtin_tools("/nonexistent")
    rows = []
    for _ in range(n):
        kind = r.choice(["calculator", "calculator", "search", "weather"])
        if kind == "calculator":
            q, expr = _calc_query(r)
            t = tools["calculator"]
            prompt, args = function_call_prompt(t.name, t.description, t.parameters, q), {"expression": expr}
        elif kind == "search":
            topic = r.choice(SEARCH_TOPICS)
            t = tools["search"]
            prompt, args = function_call_prompt(t.name, t.description, t.parameters, _search_query(r, topic)), {"query": topic}
        else:
            city = r.choice(WEATHER_CITIES)
            prompt, args = function_call_prompt("weather", WEATHER_DESC, WEATHER_SCHEMA, _weather_query(r, city)), {"city": city}
        rows.append(_sft(prompt, FAST_OPEN + json.dumps(args)))
    return rows


def tool_answer_rows(r: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(user message as the chat builds it after tools ran, answer, thought)."""
    from engines.tools.calculator import calculate
    from studio.tools.orchestrator import tool_context

    out = []
    for _ in range(n):
        kind = r.choice(["calculator", "search", "weather", "failed"])
        if kind == "calculator":
            q, expr = _calc_query(r)
            res = calculate(expr)
            call = {"tool": "calculator", "args": {"expression": expr}, "result": res}
            ans = f"{expr} = {res['result']} [1]."
        elif kind == "search":
            topic = r.choice(SEARCH_TOPICS)
            q = _search_query(r, topic)
            call = {"tool": "search", "args": {"query": topic},
                    "result": {"hits": [{"source": "handbook.md", "position": r.randint(0, 9), "text": SEARCH_FACTS[topic]}]}}
            ans = f"According to the handbook, {SEARCH_FACTS[topic][0].lower()}{SEARCH_FACTS[topic][1:-1]} [1]."
        elif kind == "weather":
            city = r.choice(WEATHER_CITIES)
            temp, cond = r.randint(-8, 32), r.choice(CONDITIONS)
            q = _weather_query(r, city)
            call = {"tool": "weather", "args": {"city": city}, "result": {"data": {"city": city, "temp_c": temp, "conditions": cond}}}
            ans = f"In {city} it is {temp} °C with {cond} right now [1]."
        else:
            city = r.choice(WEATHER_CITIES)
            q = _weather_query(r, city)
            call = {"tool": "weather", "args": {"city": city}, "result": None, "error": "connection refused (the weather API did not answer)"}
            ans = "The weather tool failed (connection refused), so I can't tell you the weather right now [1]."
        out.append((tool_context([call]) + "\n\n" + q, ans, "I answer from the tool result and cite it."))
    return out


# ---- assembling the files -----------------------------------------------------------------------------
def _mixed(rows: list[tuple[str, str, str]], r: random.Random, think_share: float = 0.2) -> list[dict]:
    """Chat, decline and tool answers: mostly fast, some with a one-line thought (reasoning mode)."""
    return [_sft(q, (_think(t) if r.random() < think_share else FAST_OPEN) + a) for q, a, t in rows]


def problem_rows(r: random.Random, n: int) -> list[dict]:
    """Word problems from the training templates: multi-step ones lean reasoning (the skill to
    learn), single-step ones lean fast; both modes appear for each, so the prompt picks the mode."""
    rows = []
    for _ in range(n):
        p = mp.make_problem(r, mp.TRAIN_TEMPLATES)
        reasoning = r.random() < (0.8 if p.n_steps > 1 else 0.4)
        rows.append(_sft(p.question, mp.reasoning_answer(p) if reasoning else mp.fast_answer(p)))
    return rows


def decline_rows(r: random.Random, n: int) -> list[tuple[str, str, str]]:
    """Fact questions the prompt cannot answer: (question, a decline, the decline thought)."""
    return [(fact_question(r, FACT_QS, CITIES, PEOPLE, COMPANIES), r.choice(DECLINES), DECLINE_THOUGHT) for _ in range(n)]


def sft_rows() -> list[dict]:
    rows: list[dict] = []
    r = random.Random(101)
    rows += problem_rows(r, SIZES["math"])
    r = random.Random(202)
    rows += _mixed(chat_norm_rows(r, SIZES["chat"]), r)
    r = random.Random(303)
    rows += _mixed(decline_rows(r, SIZES["decline"]), r)
    r = random.Random(404)
    rows += tool_call_rows(r, SIZES["tool_call"])
    r = random.Random(505)
    rows += _mixed(tool_answer_rows(r, SIZES["tool_answer"]), r, think_share=0.15)
    random.Random(606).shuffle(rows)
    return rows


def chat_rows() -> list[dict]:
    """The chat stage, a second SFT pass from the SFT adapter: questions that look like fact
    questions but are answered from the prompt (about the assistant, its skills, small talk,
    thanks), against declines of real fact questions with as many thoughts on each side (the
    thought decides reasoning mode: run 7 lost its declines when answer thoughts outnumbered the
    decline thought three to one), plus a replay of the other families so nothing is forgotten."""
    r = random.Random(1101)
    chat = self_and_smalltalk_rows(r, 90) + chat_norm_rows(r, 40)
    rows = _mixed(chat, r, think_share=0.3)
    rows += _mixed(decline_rows(r, 90), r, think_share=0.45)
    rows += problem_rows(r, 80)  # replay: word problems in both modes
    rows += tool_call_rows(r, 20) + _mixed(tool_answer_rows(r, 20), r, think_share=0.15)
    r.shuffle(rows)
    return rows


def dpo_rows() -> list[dict]:
    r = random.Random(707)
    rows = []
    for _ in range(60):  # correct vs wrong (reasoning)
        p = mp.make_problem(r, mp.MULTI_STEP)
        wrong, _ = mp.wrong_answer(p, r)
        rows.append({"prompt": p.question, "chosen": mp.reasoning_answer(p), "rejected": wrong})
    for i in range(160):  # decline vs invented fact, in both modes: reasoning mode must not talk itself into a fact
        q = fact_question(r, FACT_QS, CITIES, PEOPLE, COMPANIES)
        made_up = r.choice(INVENTED).format(n=f"{r.randint(2, 900)},{r.randint(100, 999)}", name=r.choice(INVENTED_NAMES),
                                            date=f"{r.randint(1, 28)} May {r.randint(1950, 2023)}",
                                            place=f"{r.randint(2, 99)} {r.choice(['Hill', 'Park', 'Station'])} Street")
        if i % 8 < 5:
            rows.append({"prompt": q, "chosen": FAST_OPEN + r.choice(DECLINES), "rejected": FAST_OPEN + made_up})
        else:
            rows.append({"prompt": q, "chosen": _think(DECLINE_THOUGHT) + r.choice(DECLINES),
                         "rejected": _think(r.choice(WRONG_FACT_THOUGHTS)) + made_up})
    for i, (q, a, t) in enumerate(chat_norm_rows(r, 80)):  # answer vs a decline: the prompt holds all it needs
        if i % 2:
            rows.append({"prompt": q, "chosen": FAST_OPEN + a, "rejected": FAST_OPEN + r.choice(DECLINES)})
        else:
            rows.append({"prompt": q, "chosen": _think(t) + a, "rejected": _think(DECLINE_THOUGHT) + r.choice(DECLINES)})
    for q, a, _t in chat_norm_rows(r, 50):  # concise vs rambling
        ramble = (a + " " + r.choice(["Also, let me know if you have any other questions, because I am always here and I "
                                      "love to help with anything at all, big or small, any time of the day.",
                                      "I hope this helps! " * 3 + "Let me explain again: " + a,
                                      "<end_of_turn> user\n" + q]))
        rows.append({"prompt": q, "chosen": FAST_OPEN + a, "rejected": FAST_OPEN + ramble})
    rows += tool_call_pairs(random.Random(717), 64)
    r.shuffle(rows)
    return rows


def _wrong_expression(expr: str, r: random.Random) -> str:
    """A calculator expression that misreads the question the way the chat stage did (round 8:
    "7 percent of 8166" -> `7 * 8166`, "1427 divided by 277" -> `1427`), or carries its result."""
    if m := re.fullmatch(r"([\d.]+)% of (\d+)", expr):
        return r.choice([f"{m[1]} * {m[2]}", f"{m[2]} * {m[1]}", f"{m[2]} / {m[1]}"])
    if m := re.fullmatch(r"(\d+) / (\d+)", expr):
        return r.choice([m[1], f"{m[1]} * {m[2]}", f"{m[2]} / {m[1]}"])
    if m := re.fullmatch(r"(\d+) \* (\d+)", expr):
        return r.choice([f"{m[1]} + {m[2]}", m[1]])
    if m := re.fullmatch(r"(\d+) \*\* (\d+)", expr):
        return f"{m[1]} * {m[2]}"
    if m := re.fullmatch(r"sqrt\((\d+)\)", expr):
        return r.choice([m[1], f"{m[1]} / 2"])
    return expr.rsplit(" + ", 1)[0]  # a sum of three that drops a term


def tool_call_pairs(r: random.Random, n: int) -> list[dict]:
    """Calculator calls: the expression the question asks for vs a misread one (or the right one
    with a made-up result appended, which the calculator cannot parse). The calls are the chat's
    own prompt (function_call_prompt), as in the SFT rows."""
    from engines.tools.function_call import function_call_prompt
    from engines.tools.registry import builtin_tools

    t = builtin_tools("/nonexistent")["calculator"]
    rows = []
    for i in range(n):
        q, expr = _calc_query(r)
        while i % 2 == 0 and not re.search(r"% of | / ", expr):  # half on the two misreads seen
            q, expr = _calc_query(r)
        bad = f"{expr} = {r.randint(2, 9999)}" if i % 4 == 3 else _wrong_expression(expr, r)
        rows.append({"prompt": function_call_prompt(t.name, t.description, t.parameters, q),
                     "chosen": FAST_OPEN + json.dumps({"expression": expr}),
                     "rejected": FAST_OPEN + json.dumps({"expression": bad})})
    return rows


def grpo_rows() -> list[dict]:
    r = random.Random(808)
    return [{"prompt": p.question, "answer": str(p.answer)}
            for p in (mp.make_problem(r, mp.MULTI_STEP) for _ in range(160))]


def heldout_suite() -> list[dict]:
    """The ladder suite rows `{"family", "query", "answer"?, "expect_tool"?}`, from seeds and (for
    problems and declines) templates and entities that training never uses."""
    r = random.Random(9001)
    rows: list[dict] = []
    multi = [t for t in mp.HELDOUT_TEMPLATES if t is not mp.h_bare] + mp.MULTI_STEP
    seen = set()
    while len([x for x in rows if x["family"] == "multi_step"]) < HELDOUT["multi_step"]:
        # half from templates training never saw, half from training templates with unseen numbers
        p = mp.make_problem(r, multi[:5] if len(rows) % 2 == 0 else multi[5:])
        if p.n_steps >= 2 and p.question not in seen:
            seen.add(p.question)
            rows.append({"family": "multi_step", "query": p.question, "answer": p.answer})
    while len([x for x in rows if x["family"] == "single_step"]) < HELDOUT["single_step"]:
        p = mp.make_problem(r, [mp.h_bare] + mp.ONE_STEP)
        if p.question not in seen:
            seen.add(p.question)
            rows.append({"family": "single_step", "query": p.question, "answer": p.answer})
    for _ in range(HELDOUT["unanswerable"]):
        rows.append({"family": "unanswerable",
                     "query": fact_question(r, HELDOUT_FACT_QS, HELDOUT_CITIES, HELDOUT_PEOPLE, HELDOUT_COMPANIES)})
    rows += [{"family": "chat_norms", "query": q} for q in CHAT_HELDOUT[: HELDOUT["chat_norms"]]]
    for i in range(HELDOUT["tool"]):
        if i % 2 == 0:
            q, expr = _calc_query(r)
            from engines.tools.calculator import calculate

            rows.append({"family": "tool", "query": q, "expect_tool": "calculator", "answer": calculate(expr)["result"]})
        else:
            topic = r.choice(SEARCH_TOPICS)
            rows.append({"family": "tool", "query": _search_query(r, topic), "expect_tool": "search"})
    return rows


FILES = {"sft.jsonl": sft_rows, "chat.jsonl": chat_rows, "dpo.jsonl": dpo_rows, "grpo.jsonl": grpo_rows, "heldout_suite.jsonl": heldout_suite}


def build_curriculum() -> dict[str, list[dict]]:
    return {name: fn() for name, fn in FILES.items()}


def data_dir() -> Path:
    return Path(__file__).parent / "data" / "curriculum"


def write_curriculum(folder: str | os.PathLike | None = None) -> Path:
    folder = Path(folder) if folder else data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in build_curriculum().items():
        tmp = folder / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        os.replace(tmp, folder / name)
    return folder


def curriculum_hash(folder: str | os.PathLike | None = None) -> str:
    """sha256 over the curriculum files (name and bytes, in name order)."""
    folder = Path(folder) if folder else data_dir()
    h = hashlib.sha256()
    for name in sorted(FILES):
        h.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return h.hexdigest()


if __name__ == "__main__":  # python -m studio.starter.curriculum: rewrite the package data
    out = write_curriculum()
    print(out, curriculum_hash(out))
