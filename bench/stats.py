# SPDX-License-Identifier: GPL-2.0
"""Median and spread of a few repetitions, saying how many of them measured.

With 3-5 repetitions on a shared machine a mean is pulled by one slow run;
the median and the min-max (and IQR) show the middle and how much to trust it.
"""
import statistics


def summary(values: list[float], attempted: int | None = None) -> dict:
    """n, attempted, median, min, max, q1, q3 of `values`; only n and attempted if none.

    `attempted` counts failed runs too, so a table can show "2 of 3".
    """
    result = {"n": len(values), "attempted": len(values) if attempted is None else attempted}
    if not values:
        return result
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    result.update(median=statistics.median(ordered), min=ordered[0], max=ordered[-1],
                  q1=q1, q3=q3)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def by_key(records: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Group records by the values of `keys`, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(tuple(record.get(k) for k in keys), []).append(record)
    return groups


def ratio(numerator: dict, denominator: dict, field: str = "median") -> float | None:
    """numerator[field] / denominator[field], or None when either did not measure."""
    a, b = numerator.get(field), denominator.get(field)
    if a is None or not b:
        return None
    return round(a / b, 3)
