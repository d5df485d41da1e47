"""The `calculator` tool: exact arithmetic through an AST whitelist, never `eval`.

    calculate("17.5% of 2,340")   # {"expression": "17.5/100*2340", "result": "409.5"}
    calculate("2**200")           # an exact big integer
    calculate("0.1 + 0.2")        # "0.3" (decimals, not binary floats)

Numbers are parsed from their source text into int or Decimal (50 significant digits), so
0.1 + 0.2 is 0.3 and 2**200 is exact. Only the node types below are evaluated; anything else
(names, attributes, calls to unknown functions, comprehensions) is refused with a message
naming it. Exponents and factorials are bounded so a query cannot hang the app.
"""

from __future__ import annotations

import ast
import decimal
import math
import operator
import re
from decimal import Decimal

PRECISION = 50  # significant digits for non-integer results
MAX_RESULT_BITS = 100_000  # about 30,000 decimal digits: larger powers are refused
MAX_FACTORIAL = 2000
MAX_EXPRESSION_CHARS = 2000  # a longer "expression" is pasted text, not arithmetic


class CalculatorError(ValueError):
    """The expression is not arithmetic the calculator can evaluate safely."""


_WORDS = [
    (r"\bto the power of\b", "**"),
    (r"\bmultiplied by\b", "*"),
    (r"\bdivided by\b", "/"),
    (r"\btimes\b", "*"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bover\b", "/"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
    (r"\bmod(?:ulo)?\b", " MOD "),
    (r"\bsquare root of\s*([\d.]+)", r"sqrt(\1)"),
]
_NUM = r"\d+(?:\.\d+)?"


def normalize(text: str) -> str:
    """Turn everyday notation into a Python arithmetic expression (still only parsed, never run)."""
    s = text.strip().lower().rstrip("?.!= ")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # thousands separators: 2,340 -> 2340
    s = s.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    s = re.sub(r"(?<=[\d)\s])x(?=[\s\d(])", "*", s)  # 3 x 4
    for pat, rep in _WORDS:
        s = re.sub(pat, rep, s)
    # percentages: "17.5% of 2340" -> 17.5/100*2340 ; "80 - 15%" stays a plain fraction
    s = re.sub(r"\bper cent\b", "percent", s)
    s = re.sub(rf"(?<![\d.])({_NUM})\s*(?:%|percent\b)\s*of\b", r"(\1/100)*", s)  # (?<!...): linear on long digit runs
    s = re.sub(rf"(?<![\d.])({_NUM})\s*(?:%|percent\b)", r"(\1/100)", s)
    s = s.replace(" MOD ", " % ")
    s = re.sub(r"\s+", " ", s).strip()
    return s


def _const(node: ast.Constant, source: str):
    if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise CalculatorError(f"{node.value!r} is not a number")
    if isinstance(node.value, int):
        return node.value
    text = ast.get_source_segment(source, node) or repr(node.value)
    return Decimal(text.replace("_", ""))


def _to_decimal(x):
    return x if isinstance(x, Decimal) else Decimal(x)


def _div(a, b):
    if b == 0:
        raise CalculatorError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return _to_decimal(a) / _to_decimal(b)


def _pow(a, b):
    if isinstance(b, Decimal):
        if b == b.to_integral_value():
            b = int(b)
        else:
            if a < 0:
                raise CalculatorError("a negative number to a fractional power is not a real number")
            return _to_decimal(a) ** b
    if abs(b) > 100_000 or (a not in (0, 1, -1) and abs(b) * max(1, abs(int(a)).bit_length()) > MAX_RESULT_BITS):
        raise CalculatorError(f"the result of {a}**{b} would be too large to compute")
    if b < 0:
        if a == 0:
            raise CalculatorError("zero to a negative power (division by zero)")
        return Decimal(1) / (_to_decimal(a) ** -b)
    return a ** b


def _factorial(x):
    if isinstance(x, Decimal):
        if x != x.to_integral_value():
            raise CalculatorError("factorial needs a whole number")
        x = int(x)
    if x < 0 or x > MAX_FACTORIAL:
        raise CalculatorError(f"factorial is limited to 0..{MAX_FACTORIAL}")
    return math.factorial(x)


def _sqrt(x):
    if x < 0:
        raise CalculatorError("the square root of a negative number is not a real number")
    if isinstance(x, int):
        r = math.isqrt(x)
        if r * r == x:
            return r
    return _to_decimal(x).sqrt()


def _float_fn(fn):
    return lambda x: Decimal(repr(fn(float(x))))


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _div,
        ast.FloorDiv: lambda a, b: _div(a, 1) // b if b else _div(a, b), ast.Mod: lambda a, b: a % b if b else _div(a, b),
        ast.Pow: _pow}
_UN = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS = {
    "sqrt": _sqrt, "abs": abs, "factorial": _factorial,
    "round": lambda x, n=0: round(_to_decimal(x), int(n)) if n else int(round(_to_decimal(x))),
    "floor": lambda x: math.floor(x), "ceil": lambda x: math.ceil(x),
    "min": min, "max": max,
    "ln": lambda x: _to_decimal(x).ln(), "log10": lambda x: _to_decimal(x).log10(),
    "log": lambda x: _to_decimal(x).ln(), "exp": lambda x: _to_decimal(x).exp(),
    "sin": _float_fn(math.sin), "cos": _float_fn(math.cos), "tan": _float_fn(math.tan),
}
_NAMES = {"pi": Decimal("3.14159265358979323846264338327950288419716939937510"),
          "e": Decimal("2.71828182845904523536028747135266249775724709369995")}


def _eval(node, source):
    if isinstance(node, ast.Expression):
        return _eval(node.body, source)
    if isinstance(node, ast.Constant):
        return _const(node, source)
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _BIN[type(node.op)](_eval(node.left, source), _eval(node.right, source))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UN:
        return _UN[type(node.op)](_eval(node.operand, source))
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and not node.keywords and 1 <= len(node.args) <= 4):
        return _FUNCS[node.func.id](*[_eval(a, source) for a in node.args])
    if isinstance(node, ast.Tuple):  # "6, 482 * 3": a comma and a space split a number in two
        raise CalculatorError(f"a comma separates numbers in {source!r}; write thousands as 6482 or 6,482 "
                              "(no space after the comma)")
    what = {ast.Name: "the name {}", ast.Call: "this function call", ast.Attribute: "attribute access"}
    label = what.get(type(node), type(node).__name__)
    if isinstance(node, ast.Name):
        label = label.format(repr(node.id))
    raise CalculatorError(f"{label} is not allowed in a calculation; use numbers, + - * / ** % and "
                          f"{', '.join(sorted(_FUNCS))}")


def format_number(value) -> str:
    if isinstance(value, int):
        return str(value)
    d = value.normalize() if isinstance(value, Decimal) else Decimal(str(value)).normalize()
    if d == d.to_integral_value() and abs(d) < Decimal(10) ** PRECISION:
        return str(int(d))
    return format(d, "f") if -30 < d.adjusted() < PRECISION else str(d)


def calculate(expression: str) -> dict:
    """Evaluate `expression`; returns {"expression", "result"} or raises CalculatorError."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculatorError("no expression given; pass e.g. {\"expression\": \"17.5% of 2340\"}")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    source = normalize(expression)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise CalculatorError(f"cannot read {expression!r} as arithmetic ({e.msg})") from None
    except (RecursionError, MemoryError):  # "1+1+...+1" a thousand terms deep
        raise CalculatorError(f"the expression {expression[:40]!r}… is nested too deeply") from None
    with decimal.localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.traps[decimal.Overflow] = True
        try:
            value = _eval(tree, source)
        except RecursionError:
            raise CalculatorError(f"the expression {expression[:40]!r}… is nested too deeply") from None
        except (decimal.InvalidOperation, decimal.Overflow, OverflowError, ZeroDivisionError, ValueError, TypeError) as e:
            if isinstance(e, CalculatorError):
                raise
            raise CalculatorError(f"cannot evaluate {expression!r}: {e or type(e).__name__}") from None
        return {"expression": source, "result": format_number(value)}
