"""The calculator: exact arithmetic from everyday notation, and a refusal for anything else."""

from __future__ import annotations

import pytest

from engines.tools.calculator import CalculatorError, calculate


@pytest.mark.parametrize("expr, result", [
    ("17.5% of 2,340", "409.5"),
    ("7 percent of 8166", "571.62"),  # the words a user (and the starter) writes
    ("17.5 per cent of 5995", "1049.125"),
    ("0.1 + 0.2", "0.3"),
    ("2**200", str(2**200)),
    ("1,000,000 / 8", "125000"),
    ("10 divided by 4", "2.5"),
    ("3 x 4", "12"),
    ("(2+3)*4^2", "80"),
    ("7 mod 3", "1"),
    ("square root of 1764", "42"),
    ("7.5 squared", "56.25"),
    ("factorial(25)", "15511210043330985984000000"),
    ("-2.5e3 + 1", "-2499"),
    ("1/3", "0." + "3" * 50),
])
def test_everyday_arithmetic_is_exact(expr, result):
    assert calculate(expr)["result"] == result


@pytest.mark.parametrize("expr, why", [
    ("__import__('os').system('true')", "not allowed"),
    ("open('/etc/passwd')", "not allowed"),
    ("(1).__class__", "not allowed"),
    ("[i for i in range(10)]", "not allowed"),
    ("x + 1", "the name 'x'"),
    ("2**10**10", "too large"),
    ("factorial(100000)", "limited"),
    ("1/0", "division by zero"),
    ("2 +", "cannot read"),
    ("6, 482 * 3, 917", "comma separates numbers in '6, 482 \\* 3, 917'"),  # round 11: a call the starter wrote
    ("", "no expression"),
])
def test_anything_but_arithmetic_is_refused_with_the_reason(expr, why):
    with pytest.raises(CalculatorError, match=why):
        calculate(expr)
