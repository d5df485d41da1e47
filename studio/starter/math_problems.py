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

    def _line(self, label: str, expr: str, value: int) -> int:
        # the label names what the line computes before the numbers are chosen: a small model
        # plans better when it first says *what* it works out ("eggs laid: 7 * 4 = 28")
        self.steps.append(f"{label}: {expr} = {value}" if label else f"{expr} = {value}")
        return value

    def add(self, a, b, label=""):
        return self._line(label, f"{a} + {b}", a + b)

    def sub(self, a, b, label=""):
        return self._line(label, f"{a} - {b}", a - b)

    def mul(self, a, b, label=""):
        return self._line(label, f"{a} * {b}", a * b)

    def div(self, a, b, label=""):
        return self._line(label, f"{a} / {b}", a // b)


Template = Callable[[random.Random, _Calc], tuple[str, int]]


def _who(r: random.Random) -> tuple[str, str]:
    name = r.choice(NAMES)
    return name, r.choice(["she", "he"]) if name not in ("Sam",) else "they"


# ---- one step -------------------------------------------------------------------------------------
def t_buy_more(r, c):
    n, p = _who(r)
    it = r.choice(ITEMS)
    a, b = r.randint(3, 60), r.randint(2, 40)
    return f"{n} has {a} {it}. {p.capitalize()} gets {b} more. How many {it} does {n} have now?", c.add(a, b, f"{it} now")


def t_give_away(r, c):
    n, _ = _who(r)
    it = r.choice(ITEMS)
    a = r.randint(10, 90)
    b = r.randint(2, a - 1)
    return f"{n} had {a} {it} and gave {b} of them to a friend. How many {it} are left?", c.sub(a, b, f"{it} left")


def t_boxes(r, c):
    it = r.choice(ITEMS)
    a, b = r.randint(2, 12), r.randint(2, 12)
    return f"A box holds {a} {it}. How many {it} are in {b} boxes?", c.mul(b, a, f"{it} in all")


def t_share(r, c):
    it = r.choice(ITEMS)
    b = r.randint(2, 9)
    a = b * r.randint(2, 12)
    return f"{a} {it} are shared equally among {b} children. How many {it} does each child get?", c.div(a, b, "each child")


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
    total = c.mul(a, b, f"{it} bought")
    return (f"{n} buys {a} packs of {it} with {b} in each pack, then gives away {give}. "
            f"How many {it} does {p} have left?"), c.sub(total, give, f"{it} left")


def t_change(r, c):
    n, _ = _who(r)
    th = r.choice(THINGS)
    price, k = r.randint(2, 15), r.randint(2, 6)
    cost = price * k
    note = next(v for v in (10, 20, 50, 100, 200) if v > cost)
    total = c.mul(price, k, "cost")
    return (f"A shop sells a {th} for {price} dollars. {n} buys {k} of them and pays with a {note}-dollar note. "
            f"How much change does {n} get?"), c.sub(note, total, "change")


def t_pages(r, c):
    n, _ = _who(r)
    a, b = r.randint(10, 60), r.randint(10, 60)
    total = a + b + r.randint(5, 80)
    read = c.add(a, b, "pages read")
    return (f"{n} reads {a} pages on Monday and {b} pages on Tuesday. The book has {total} pages. "
            f"How many pages are left to read?"), c.sub(total, read, "pages left")


def t_chairs(r, c):
    a, b = r.randint(3, 12), r.randint(4, 12)
    taken = r.randint(1, a * b - 1)
    seats = c.mul(a, b, "chairs")
    return f"A hall has {a} rows of {b} chairs. {taken} chairs are taken. How many chairs are free?", c.sub(seats, taken, "free chairs")


def t_earn_spend(r, c):
    n, p = _who(r)
    a, b = r.randint(5, 20), r.randint(2, 7)
    spend = r.randint(1, a * b - 1)
    earned = c.mul(a, b, "earned")
    return (f"{n} earns {a} dollars a day for {b} days and then spends {spend} dollars. "
            f"How much money does {p} have left?"), c.sub(earned, spend, "left")


def t_two_groups(r, c):
    it = r.choice(ITEMS)
    a, b, k = r.randint(5, 40), r.randint(5, 40), r.randint(2, 5)
    both = c.add(a, b, "one pair")
    return f"One jar has {a} {it} and another has {b}. How many {it} are there in {k} such pairs of jars?", c.mul(both, k, f"{k} pairs")


# ---- three steps ----------------------------------------------------------------------------------
def t_bags_give(r, c):
    n, p = _who(r)
    it = r.choice(ITEMS)
    a, b, k = r.randint(2, 30), r.randint(2, 6), r.randint(2, 9)
    bought = c.mul(b, k, f"{it} bought")
    have = c.add(a, bought, f"{it} in all")
    give = r.randint(1, have - 1)
    return (f"{n} has {a} {it}. {p.capitalize()} buys {b} bags with {k} {it} in each bag, then gives {give} away. "
            f"How many {it} does {n} have now?"), c.sub(have, give, f"{it} left")


def t_tickets(r, c):
    a, b = r.randint(5, 15), r.randint(2, 8)
    na, nc = r.randint(1, 6), r.randint(1, 6)
    adults = c.mul(a, na, "adults")
    kids = c.mul(b, nc, "children")
    return (f"Tickets cost {a} dollars for adults and {b} dollars for children. "
            f"How much do {na} adults and {nc} children pay in total?"), c.add(adults, kids, "total")


def t_save_spend(r, c):
    n, p = _who(r)
    a, w = r.randint(3, 15), r.randint(2, 8)
    saved = c.mul(a, w, "saved")
    s1 = r.randint(1, saved // 2)
    s2 = r.randint(1, saved - s1 - 1) if saved - s1 > 1 else 0
    th = r.choice(THINGS)
    left = c.sub(saved, s1, "after the " + th)
    return (f"{n} saves {a} dollars a week for {w} weeks, then spends {s1} dollars on a {th} "
            f"and {s2} dollars on lunch. How much money is left?"), c.sub(left, s2, "after lunch")


def t_baker(r, c):
    a, b = r.randint(10, 40), r.randint(5, 30)
    made = c.add(a, b, "loaves made")
    sold = r.randint(1, made - 1)
    more = r.randint(2, 20)
    left = c.sub(made, sold, "after selling")
    return (f"A baker makes {a} loaves in the morning and {b} in the afternoon, sells {sold} of them, "
            f"and then bakes {more} more. How many loaves does the baker have?"), c.add(left, more, "loaves now")


def t_bus(r, c):
    a = r.randint(10, 40)
    off, on = r.randint(1, a - 1), r.randint(2, 20)
    x = c.sub(a, off, "after getting off")
    y = c.add(x, on, "after the first stop")
    off2 = r.randint(1, y - 1)
    return (f"A bus has {a} passengers. At the first stop {off} get off and {on} get on. "
            f"At the second stop {off2} get off. How many passengers are on the bus now?"), c.sub(y, off2, "after the second stop")


# ---- more two- and three-step wordings: "twice", "half", "more than", "each day", sharing --------
def t_twice(r, c):
    n, _ = _who(r)
    m, _ = _who(r)
    it = r.choice(ITEMS)
    a = r.randint(3, 40)
    other = c.mul(a, 2, f"{m}'s {it}")
    return f"{n} has {a} {it}. {m} has twice as many. How many {it} do they have together?", c.add(a, other, "together")


def t_half(r, c):
    n, p = _who(r)
    it = r.choice(ITEMS)
    a = 2 * r.randint(4, 40)
    b = r.randint(2, 25)
    kept = c.div(a, 2, "half")
    return (f"{n} had {a} {it} and gave half of them to a cousin. Then {p} found {b} more. "
            f"How many {it} does {n} have now?"), c.add(kept, b, f"{it} now")


def t_more_than(r, c):
    n, _ = _who(r)
    m, _ = _who(r)
    it = r.choice(ITEMS)
    a, b = r.randint(5, 50), r.randint(2, 30)
    other = c.add(a, b, f"{m}'s {it}")
    return (f"{n} collected {a} {it}. {m} collected {b} more than {n}. "
            f"How many {it} did the two collect in total?"), c.add(a, other, "in total")


def t_read_days(r, c):
    n, _ = _who(r)
    a, d = r.randint(5, 25), r.randint(2, 7)
    total = a * d + r.randint(3, 90)
    read = c.mul(a, d, "pages read")
    return (f"A book has {total} pages. {n} reads {a} pages a day for {d} days. "
            f"How many pages does {n} still have to read?"), c.sub(total, read, "pages left")


def t_share_after(r, c):
    n, _ = _who(r)
    it = r.choice(ITEMS)
    k = r.randint(2, 6)
    total = k * r.randint(3, 12)
    b = r.randint(2, total - 2)
    a = total - b
    got = c.add(a, b, f"{it} in all")
    return (f"{n} has {a} {it} and gets {b} more. {n} shares them equally among {k} friends. "
            f"How many {it} does each friend get?"), c.div(got, k, "each friend")


def t_trays(r, c):
    n, p = _who(r)
    a, b = r.randint(2, 6), r.randint(6, 12)
    eaten = r.randint(1, 9)
    made = c.mul(a, b, "cookies baked")
    return (f"{n} bakes {a} trays of {b} cookies and {p} eats {eaten} of them. "
            f"How many cookies are left?"), c.sub(made, eaten, "cookies left")


def t_pens_notebook(r, c):
    n, _ = _who(r)
    a, k, b = r.randint(2, 9), r.randint(2, 8), r.randint(3, 20)
    pens = c.mul(a, k, "pens")
    return (f"Pens cost {a} dollars each and a notebook costs {b} dollars. {n} buys {k} pens and one notebook. "
            f"How much does {n} spend?"), c.add(pens, b, "spent")


def t_class_trip(r, c):
    g, per = r.randint(2, 6), r.randint(8, 30)
    stay = r.randint(1, 9)
    total = c.mul(g, per, "students")
    went = c.sub(total, stay, "students on the trip")
    extra = r.randint(1, 10)
    return (f"A school has {g} classes of {per} students. {stay} students stay home and the rest go on a trip, "
            f"together with {extra} teachers. How many people go on the trip?"), c.add(went, extra, "people")


def t_shelves(r, c):
    a, b = r.randint(2, 8), r.randint(5, 20)
    more = r.randint(3, 30)
    k = r.randint(1, a * b + more - 1)
    shelved = c.mul(a, b, "books on shelves")
    total = c.add(shelved, more, "books in all")
    return (f"A library has {a} shelves with {b} books on each shelf and {more} books on a cart. "
            f"Readers borrow {k} books. How many books are still in the library?"), c.sub(total, k, "books left")


# ---- held out: wordings that training never sees ------------------------------------------------
def h_hens(r, c):
    a, b = r.randint(3, 12), r.randint(2, 7)
    laid = c.mul(a, b, "eggs laid")
    sold = r.randint(1, laid - 1)
    return (f"A farmer keeps {a} hens and each hen lays {b} eggs a week. The farmer sells {sold} eggs. "
            f"How many eggs remain at the end of the week?"), c.sub(laid, sold, "eggs left")


def h_walk(r, c):
    n, p = _who(r)
    a, d, e = r.randint(2, 9), r.randint(2, 7), r.randint(1, 9)
    walked = c.mul(a, d, "km in the days")
    return f"{n} walks {a} km every day for {d} days and then {e} km extra. How many km does {p} walk altogether?", c.add(walked, e, "km in all")


def h_groups(r, c):
    g = r.randint(2, 6)
    present = g * r.randint(3, 8)
    absent = r.randint(1, 9)
    total = present + absent
    here = c.sub(total, absent, "students here")
    return (f"There are {total} students in a class and {absent} are absent today. "
            f"The others work in groups of {g}. How many groups are there?"), c.div(here, g, "groups")


def h_discount(r, c):
    n, _ = _who(r)
    th = r.choice(THINGS)
    a, b = r.randint(3, 20), r.randint(2, 6)
    off = r.randint(1, a * b - 1)
    cost = c.mul(a, b, "price")
    return (f"One {th} costs {a} dollars. {n} buys {b} of them and gets a discount of {off} dollars. "
            f"What does {n} pay?"), c.sub(cost, off, "after the discount")


def h_garden(r, c):
    a, b = r.randint(2, 9), r.randint(3, 9)
    picked, planted = r.randint(1, a * b - 1), r.randint(1, 12)
    tulips = c.mul(a, b, "tulips")
    left = c.sub(tulips, picked, "after picking")
    return (f"A garden has {a} rows with {b} tulips in each row. Someone picks {picked} tulips and later plants "
            f"{planted} new ones. How many tulips grow in the garden now?"), c.add(left, planted, "tulips now")


def h_bare(r, c):
    a, b = r.randint(5, 99), r.randint(5, 99)
    return r.choice([f"Add {a} and {b}.", f"What do you get if you add {a} to {b}?", f"Find the sum of {a} and {b}."]), c.add(a, b)


ONE_STEP = [t_buy_more, t_give_away, t_boxes, t_share, t_bare]
MULTI_STEP = [t_packs_give, t_change, t_pages, t_chairs, t_earn_spend, t_two_groups,
              t_bags_give, t_tickets, t_save_spend, t_baker, t_bus,
              t_twice, t_half, t_more_than, t_read_days, t_share_after, t_trays, t_pens_notebook, t_class_trip, t_shelves]
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
