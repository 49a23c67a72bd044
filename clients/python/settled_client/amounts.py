"""Amounts: decimal text to minor units and back (PROTOCOL.md §2).

An amount is an unsigned 64-bit number of minor units of the ledger's one
currency (``GetInfo.currency_exponent`` decimals). Decimal text exists only at
the human edges; it is parsed with exactly the engine's rules so that a typed
amount never silently changes, and never through floating point.
"""

from __future__ import annotations

from .errors import AmountError

U64_MAX = 2**64 - 1
"""The largest amount, in minor units."""

CURRENCY_EXPONENT_MAX = 8
"""The largest currency exponent a ledger may have."""

_DIGITS = frozenset("0123456789")


def parse_amount(text: str, exponent: int) -> int:
    """Parses decimal text (``"12.34"``) into minor units at ``exponent``.

    The rules are PROTOCOL.md §2's, checked in its order: the exponent is at
    most 8 (``bad_exponent``), the text is not empty (``empty``), it is ASCII
    digits with at most one ``.`` and a digit on each side (``not_decimal``:
    no sign, exponent, space, separator or non-ASCII digit), it has at most
    ``exponent`` digits after the point (``too_precise``; digits are counted,
    not value: ``"1.50"`` at exponent 1 is refused) and its value fits 64 bits
    (``overflow``). ``"0"`` parses to 0.

    Raises:
        AmountError: with ``code`` one of the names above.
    """
    if not 0 <= exponent <= CURRENCY_EXPONENT_MAX:
        raise AmountError("bad_exponent", f"exponent {exponent} is not 0 to {CURRENCY_EXPONENT_MAX}")
    if text == "":
        raise AmountError("empty", "the amount is empty")
    whole, dot, fraction = text.partition(".")

    def digits(part: str) -> bool:
        return part != "" and all(character in _DIGITS for character in part)

    if not digits(whole) or (dot and not digits(fraction)):
        raise AmountError("not_decimal", f"{text!r} is not a decimal amount")
    if len(fraction) > exponent:
        raise AmountError("too_precise", f"{text!r} has more than {exponent} decimals")
    minor = int(whole + fraction.ljust(exponent, "0"))
    if minor > U64_MAX:
        raise AmountError("overflow", f"{text!r} is more than {U64_MAX} minor units")
    return minor


def format_amount(minor: int, exponent: int) -> str:
    """Formats minor units as decimal text with exactly ``exponent`` decimals.

    ``format_amount(1234, 2) == "12.34"``, ``format_amount(5, 2) == "0.05"``,
    ``format_amount(7, 0) == "7"``; :func:`parse_amount` gives the amount back.

    Raises:
        AmountError: ``bad_exponent`` for an exponent outside 0-8, ``overflow``
            for an amount outside 0 to 2^64 - 1.
    """
    if not 0 <= exponent <= CURRENCY_EXPONENT_MAX:
        raise AmountError("bad_exponent", f"exponent {exponent} is not 0 to {CURRENCY_EXPONENT_MAX}")
    if not 0 <= minor <= U64_MAX:
        raise AmountError("overflow", f"{minor} is not 0 to {U64_MAX} minor units")
    if exponent == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"
