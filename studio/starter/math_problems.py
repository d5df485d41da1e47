"""Word problems with one to three arithmetic steps, generated from a seed.

Each problem knows its steps, so a reasoning answer can show one operation per line inside
`<think>` and a fast answer can give the result directly:

    p = make_problem(random.Random(0), TRAIN_TEMPLATES)
    p.question     # "Mia has 12 marbles. She buys 3 bags with 4 marbles each. ..."
    p.steps        # ["3 * 4 = 12", "12 + 12 = 24", ...]
    p.answer       # 20

The held-out split uses the training templates with other seeds *and* templates that training
never sees (HELDOUT_TEMPLATES), so a score on it measures the skill, not the wording.
Numbers stay small (sums under a few hundred, products of one- and two-digit numbers): a
270M model's errors sit in single operations, so the curriculum keeps each one learnable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

NAMES = ["Mia", "Tom", "Ana", "Leo", "Sara", "Ben", "Nora", "Omar", "Lena", "Raj", "Ella", "Ivan", "Zoe", "Sam",
         "Yuki", "Maya", "Noah", "Ines", "Kofi", "Lucy"]
ITEMS = ["apples", "marbles", "stickers", "pencils", "cookies", "books", "stamps", "cards", "shells", "coins",
         "eggs", "balloons", "candies", "toy cars", "beads"]
THINGS = ["book", "lamp", "scarf", "kite", "ball", "mug", "cap", "puzzle", "plant", "clock"]


@dataclass
class Problem:
    question: str
    steps: list[str]  # one operation per line: "3 * 4 = 12"
    answer: int
    template: str

    @property
    def n_steps(self) -> int:
        return len(self.steps)


class _Calc:
    """Records each operation as it is done, so the trace is the computation itself."""

    def __init__(self):
        self.steps: list[str] = []

    def add(self, a, b):
        self.steps.append(f"{a} + {b} = {a + b}")
        return a + b

    def sub(self, a, b):
        self.steps.append(f"{a} - {b} = {a - b}")
        return a - b

    def mul(self, a, b):
        self.steps.append(f"{a} * {b} = {a * b}")
        return a * b

    def div(self, a, b):
        self.steps.append(f"{a} / {b} = {a // b}")
        return a // b


Template = Callable[[random.Random, _Calc], tuple[str, int]]


def _who(r: random.Random) -> tuple[str, str]:
    name = r.choice(NAMES)
    return name, r.choice(["she", "he"]) if name not in ("Sam",) else "they"


# ---- one step -------------------------------------------------------------------------------------
def t_buy_more(r, c):
    n, p = _who(r)
    it = r.choice(ITEMS)
    a, b = r.randint(3, 60), r.randint(2, 40)
    return f"{n} has {a} {it}. {p.capitalize()} gets {b} more. How many {it} does {n} have now?", c.add(a, b)


def t_give_away(r, c):
    n, _ = _who(r)
    it = r.choice(ITEMS)
    a = r.randint(10, 90)
    b = r.randint(2, a - 1)
    return f"{n} had {a} {it} and gave {b} of them to a friend. How many {it} are left?", c.sub(a, b)


def t_boxes(r, c):
    it = r.choice(ITEMS)
    a, b = r.randint(2, 12), r.randint(2, 12)
    return f"A box holds {a} {it}. How many {it} are in {b} boxes?", c.mul(b, a)


def t_share(r, c):
    it = r.choice(ITEMS)
    b = r.randint(2, 9)
    a = b * r.randint(2, 12)
    return f"{a} {it} are shared equally among {b} children. How many {it} does each child get?", c.div(a, b)


def t_bare(r, c):
    op = r.choice("+-*/")
    if op == "+":
        a, b = r.randint(5, 99), r.randint(5, 99)
        return r.choice([f"What is {a} + {b}?", f"What is {a} plus {b}?", f"Calculate {a} + {b}."]), c.add(a, b)
    if op == "-":
        a = r.randint(20, 99)
        b = r.randint(2, a - 1)
        return r.choice([f"What is {a} - {b}?", f"What is {a} minus {b}?", f"Calculate {a} - {b}."]), c.sub(a, b)
    if op == "*":
        a, b = r.randint(2, 12), r.randint(2, 12)
        return r.choice([f"What is {a} * {b}?", f"What is {a} times {b}?", f"Calculate {a} x {b}."]), c.mul(a, b)
    b = r.randint(2, 9)
    a = b * r.randint(2, 12)
    return r.choice([f"What is {a} / {b}?", f"What is {a} divided by {b}?"]), c.div(a, b)


# ---- two steps ------------------------------------------------------------------------------------
def t_packs_give(r, c):
    n, p = _who(r)
    it = r.choice(ITEMS)
    a, b = r.randint(2, 9), r.randint(3, 12)
    give = r.randint(1, a * b - 1)
    total = c.mul(a, b)
    return (f"{n} buys {a} packs of {it} with {b} in each pack, then gives away {give}. "
            f"How many {it} does {p} have left?"), c.sub(total, give)


def t_change(r, c):
    n, _ = _who(r)
    th = r.choice(THINGS)
    price, k = r.randint(2, 15), r.randint(2, 6)
    cost = price * k
    note = next(v for v in (10, 20, 50, 100, 200) if v > cost)
    total = c.mul(price, k)
    return (f"A shop sells a {th} for {price} dollars. {n} buys {k} of them and pays with a {note}-dollar note. "
            f"How much change does {n} get?"), c.sub(note, total)


def t_pages(r, c):
    n, _ = _who(r)
    a, b = r.randint(10, 60), r.randint(10, 60)
    total = a + b + r.randint(5, 80)
    read = c.add(a, b)
    return (f"{n} reads {a} pages on Monday and {b} pages on Tuesday. The book has {total} pages. "
            f"How many pages are left to read?"), c.sub(total, read)


def t_chairs(r, c):
    a, b = r.randint(3, 12), r.randint(4, 12)
    taken = r.randint(1, a * b - 1)
    seats = c.mul(a, b)
    return f"A hall has {a} rows of {b} chairs. {taken} chairs are taken. How many chairs are free?", c.sub(seats, taken)


def t_earn_spend(r, c):
    n, p = _who(r)
    a, b = r.randint(5, 20), r.randint(2, 7)
    spend = r.randint(1, a * b - 1)
    earned = c.mul(a, b)
    return (f"{n} earns {a} dollars a day for {b} days and then spends {spend} dollars. "
            f"How much money does {p} have left?"), c.sub(earned, spend)


def t_two_groups(r, c):
    it = r.choice(ITEMS)
    a, b, k = r.randint(5, 40), r.randint(5, 40), r.randint(2, 5)
    both = c.add(a, b)
    return f"One jar has {a} {it} and another has {b}. How many {it} are there in {k} such pairs of jars?", c.mul(both, k)


# ---- three steps ----------------------------------------------------------------------------------
def t_bags_give(r, c):
    n, p = _who(r)
    it = r.choice(ITEMS)
    a, b, k = r.randint(2, 30), r.randint(2, 6), r.randint(2, 9)
    bought = c.mul(b, k)
    have = c.add(a, bought)
    give = r.randint(1, have - 1)
    return (f"{n} has {a} {it}. {p.capitalize()} buys {b} bags with {k} {it} in each bag, then gives {give} away. "
            f"How many {it} does {n} have now?"), c.sub(have, give)


def t_tickets(r, c):
    a, b = r.randint(5, 15), r.randint(2, 8)
    na, nc = r.randint(1, 6), r.randint(1, 6)
    adults = c.mul(a, na)
    kids = c.mul(b, nc)
    return (f"Tickets cost {a} dollars for adults and {b} dollars for children. "
            f"How much do {na} adults and {nc} children pay in total?"), c.add(adults, kids)


def t_save_spend(r, c):
    n, p = _who(r)
    a, w = r.randint(3, 15), r.randint(2, 8)
    saved = c.mul(a, w)
    s1 = r.randint(1, saved // 2)
    s2 = r.randint(1, saved - s1 - 1) if saved - s1 > 1 else 0
    left = c.sub(saved, s1)
    return (f"{n} saves {a} dollars a week for {w} weeks, then spends {s1} dollars on a {r.choice(THINGS)} "
            f"and {s2} dollars on lunch. How much money is left?"), c.sub(left, s2)


def t_baker(r, c):
    a, b = r.randint(10, 40), r.randint(5, 30)
    made = c.add(a, b)
    sold = r.randint(1, made - 1)
    more = r.randint(2, 20)
    left = c.sub(made, sold)
    return (f"A baker makes {a} loaves in the morning and {b} in the afternoon, sells {sold} of them, "
            f"and then bakes {more} more. How many loaves does the baker have?"), c.add(left, more)


def t_bus(r, c):
    a = r.randint(10, 40)
    off, on = r.randint(1, a - 1), r.randint(2, 20)
    x = c.sub(a, off)
    y = c.add(x, on)
    off2 = r.randint(1, y - 1)
    return (f"A bus has {a} passengers. At the first stop {off} get off and {on} get on. "
            f"At the second stop {off2} get off. How many passengers are on the bus now?"), c.sub(y, off2)


# ---- held out: wordings that training never sees ------------------------------------------------
def h_hens(r, c):
    a, b = r.randint(3, 12), r.randint(2, 7)
    laid = c.mul(a, b)
    sold = r.randint(1, laid - 1)
    return (f"A farmer keeps {a} hens and each hen lays {b} eggs a week. The farmer sells {sold} eggs. "
            f"How many eggs remain at the end of the week?"), c.sub(laid, sold)


def h_walk(r, c):
    n, p = _who(r)
    a, d, e = r.randint(2, 9), r.randint(2, 7), r.randint(1, 9)
    walked = c.mul(a, d)
    return f"{n} walks {a} km every day for {d} days and then {e} km extra. How many km does {p} walk altogether?", c.add(walked, e)


def h_groups(r, c):
    g = r.randint(2, 6)
    present = g * r.randint(3, 8)
    absent = r.randint(1, 9)
    total = present + absent
    here = c.sub(total, absent)
    return (f"There are {total} students in a class and {absent} are absent today. "
            f"The others work in groups of {g}. How many groups are there?"), c.div(here, g)


def h_discount(r, c):
    n, _ = _who(r)
    th = r.choice(THINGS)
    a, b = r.randint(3, 20), r.randint(2, 6)
    off = r.randint(1, a * b - 1)
    cost = c.mul(a, b)
    return (f"One {th} costs {a} dollars. {n} buys {b} of them and gets a discount of {off} dollars. "
            f"What does {n} pay?"), c.sub(cost, off)


def h_garden(r, c):
    a, b = r.randint(2, 9), r.randint(3, 9)
    picked, planted = r.randint(1, a * b - 1), r.randint(1, 12)
    tulips = c.mul(a, b)
    left = c.sub(tulips, picked)
    return (f"A garden has {a} rows with {b} tulips in each row. Someone picks {picked} tulips and later plants "
            f"{planted} new ones. How many tulips grow in the garden now?"), c.add(left, planted)


def h_bare(r, c):
    a, b = r.randint(5, 99), r.randint(5, 99)
    return r.choice([f"Add {a} and {b}.", f"What do you get if you add {a} to {b}?", f"Find the sum of {a} and {b}."]), c.add(a, b)


ONE_STEP = [t_buy_more, t_give_away, t_boxes, t_share, t_bare]
MULTI_STEP = [t_packs_give, t_change, t_pages, t_chairs, t_earn_spend, t_two_groups,
              t_bags_give, t_tickets, t_save_spend, t_baker, t_bus]
TRAIN_TEMPLATES = ONE_STEP + MULTI_STEP
HELDOUT_TEMPLATES = [h_hens, h_walk, h_groups, h_discount, h_garden, h_bare]


def make_problem(r: random.Random, templates: list[Template]) -> Problem:
    t = r.choice(templates)
    c = _Calc()
    q, ans = t(r, c)
    return Problem(q, c.steps, ans, t.__name__)


def reasoning_answer(p: Problem) -> str:
    return "<think>\n" + "\n".join(p.steps) + "\n</think>\n\n" + f"The answer is {p.answer}."


def fast_answer(p: Problem) -> str:
    return f"<think>\n\n</think>\n\nThe answer is {p.answer}."


def wrong_answer(p: Problem, r: random.Random) -> tuple[str, int]:
    """A plausible wrong reasoning trace: one operation slips (the kind of error small models make)."""
    steps = list(p.steps)
    i = r.randrange(len(steps))
    lhs, got = steps[i].rsplit(" = ", 1)
    bad = int(got) + r.choice([-10, -2, -1, 1, 2, 10])
    steps[i] = f"{lhs} = {bad}"
    final = bad if i == len(steps) - 1 else p.answer + r.choice([-3, -1, 1, 3])
    return "<think>\n" + "\n".join(steps) + "\n</think>\n\n" + f"The answer is {final}.", final
