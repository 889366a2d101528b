"""Histograms as text, exactly as bcc prints them (pure: no kernel, no I/O).

Tracing tools count values into slots: a log2 histogram's slot ``i`` counts
the values in ``[2**i, 2**(i+1))`` (slot 0 holds 0 and 1: libbpf-tools'
``log2l()`` layout), a linear histogram's slot ``i`` the values in
``[base + i*step, base + (i+1)*step)``. :func:`format_log2_hist` and
:func:`format_linear_hist` print them as bcc's ``print_log2_hist`` and
``print_linear_hist`` do, byte for byte: the same header, the same column
widths (wider when a log2 bucket above 2**32 is used), the same star
scaling, buckets after the last non-zero one left out, and nothing at all
for a histogram without counts. :func:`log2_buckets` and
:func:`linear_buckets` give the same buckets with their bounds as data.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "format_linear_hist",
    "format_log2_hist",
    "hist_delta",
    "linear_buckets",
    "log2_buckets",
]

_STARS_MAX = 40  # bcc's table.stars_max, libbpf-tools' stars_max


def _check(counts: Sequence[int]) -> list[int]:
    out = []
    for i, c in enumerate(counts):
        if isinstance(c, bool) or not isinstance(c, int):
            raise TypeError(f"histogram slot {i}: counts are ints, got {type(c).__name__}")
        if c < 0:
            raise ValueError(f"histogram slot {i}: a count is 0 or more, got {c}")
        out.append(c)
    return out


def _stars(val: int, val_max: int, width: int) -> str:
    """bcc's ``_stars``: ``i`` stars while ``i <= width*val/val_max - 1``, at
    most ``width`` (the same float arithmetic, so the same rounding)."""
    limit = width * val / val_max - 1
    if limit < 0:
        return ""
    return "*" * min(width, int(limit) + 1)


def format_log2_hist(counts: Sequence[int], *, unit: str = "value") -> str:
    """The text bcc's ``print_log2_hist(unit)`` prints for these slots.

    ``counts[i]`` is the number of values in ``[2**i, 2**(i+1))``, slot 0
    holding 0 and 1 (bcc's ``vals`` are ``[0] + counts``). Each line ends
    in ``\\n``; empty slots after the last non-zero one are left out, and a
    histogram with no counts is ``""`` (bcc prints nothing then). Up to
    slot 31 the bounds are 10 digits wide and the bars 40 stars; a count
    in slot 32 or above makes them 20 digits and 20 stars, as in bcc.
    Pure: no kernel needed.

    Raises:
        TypeError: a count that is not an int.
        ValueError: a negative count.
    """
    vals = [0, *_check(counts)]
    idx_max = -1
    val_max = 0
    for i, v in enumerate(vals):
        if v > 0:
            idx_max = i
        val_max = max(val_max, v)
    if idx_max <= 0:
        return ""
    if idx_max <= 32:
        header = "     %-19s : count     distribution"
        body = "%10d -> %-10d : %-8d |%-*s|"
        stars = _STARS_MAX
    else:
        header = "               %-29s : count     distribution"
        body = "%20d -> %-20d : %-8d |%-*s|"
        stars = _STARS_MAX // 2
    lines = [header % unit]
    for i in range(1, idx_max + 1):
        low = (1 << i) >> 1
        high = (1 << i) - 1
        if low == high:
            low -= 1
        lines.append(body % (low, high, vals[i], stars, _stars(vals[i], val_max, stars)))
    return "\n".join(lines) + "\n"


def format_linear_hist(
    counts: Sequence[int], *, step: int = 1, base: int = 0, unit: str = "value"
) -> str:
    """The text bcc's ``print_linear_hist(unit)`` prints for these slots.

    ``counts[i]`` is the number of values in ``[base + i*step, base +
    (i+1)*step)``; each bucket is labelled by its low bound, ``base +
    i*step`` (bcc labels slot ``i`` with ``i``: the same text for the
    defaults ``step=1, base=0``; libbpf-tools' ``print_linear_hist`` labels
    as here). Empty slots after the last non-zero one are left out, and a
    histogram with no counts is ``""``. Pure: no kernel needed.

    Raises:
        TypeError: a count, ``step`` or ``base`` that is not an int.
        ValueError: a negative count, or ``step`` below 1.
    """
    _check_step(step, base)
    vals = _check(counts)
    idx_max = -1
    val_max = 0
    for i, v in enumerate(vals):
        if v > 0:
            idx_max = i
        val_max = max(val_max, v)
    if idx_max < 0:
        return ""
    # bcc's own %-formats, kept as they are: the text must match byte for byte
    lines = ["     %-13s : count     distribution" % unit]  # noqa: UP031
    for i in range(idx_max + 1):
        label = base + i * step
        lines.append(
            "        %-10d : %-8d |%-*s|"  # noqa: UP031
            % (label, vals[i], _STARS_MAX, _stars(vals[i], val_max, _STARS_MAX))
        )
    return "\n".join(lines) + "\n"


def _check_step(step: int, base: int) -> None:
    for name, v in (("step", step), ("base", base)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if step < 1:
        raise ValueError(f"step must be 1 or more, got {step}")


def log2_buckets(counts: Sequence[int]) -> list[dict[str, int]]:
    """Every slot of a log2 histogram with its bounds: ``[{"low": 0,
    "high": 1, "count": ...}, {"low": 2, "high": 3, ...}, ...]`` (bounds
    inclusive, as the text prints them). Pure.

    Raises:
        TypeError: a count that is not an int.
        ValueError: a negative count.
    """
    out = []
    for i, c in enumerate(_check(counts)):
        low = 0 if i == 0 else 1 << i
        out.append({"low": low, "high": (1 << (i + 1)) - 1, "count": c})
    return out


def linear_buckets(counts: Sequence[int], *, step: int = 1, base: int = 0) -> list[dict[str, int]]:
    """Every slot of a linear histogram with its bounds: ``{"low": base +
    i*step, "high": base + (i+1)*step - 1, "count": ...}``. Pure.

    Raises:
        TypeError: a count, ``step`` or ``base`` that is not an int.
        ValueError: a negative count, or ``step`` below 1.
    """
    _check_step(step, base)
    return [
        {"low": base + i * step, "high": base + (i + 1) * step - 1, "count": c}
        for i, c in enumerate(_check(counts))
    ]


def hist_delta(now: Sequence[int], before: Sequence[int] | None) -> list[int]:
    """The counts of one period: ``now - before`` slot by slot (``now`` when
    there is no ``before``). Counts only grow while a program fills the
    map; a slot that went down means the map was cleared (or replaced)
    meanwhile, and then ``now`` is the period's counts. Pure.
    """
    if before is None or len(before) != len(now):
        return list(now)
    delta = [a - b for a, b in zip(now, before, strict=True)]
    return list(now) if any(d < 0 for d in delta) else delta
