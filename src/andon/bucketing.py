"""The one bucketing function of Andon: flagd's v2 ``fractional`` bucketing.

Flag rollouts (the ``fractional`` operator of the flag evaluator) and the router's sticky
traffic split both call :func:`pick`, so "user X is in the canary" means the same thing for
a flag and for the version that answers X's requests.

The algorithm is flagd's (``core/pkg/evaluator/fractional.go``, the ``@fractional-v2``
examples of the flagd evaluator test kit):

1. hash the bucketing key with MurmurHash3 x86 32-bit, seed 0, read as unsigned;
2. map the hash onto ``[0, total_weight)`` with ``bucket = (hash * total_weight) >> 32``;
3. walk the weighted variants in their given order and take the first whose running sum
   of weights exceeds the bucket.

With a constant total (the router's percentages), moving weight between two variants only
moves keys into the one that grows: a canary that goes from 10% to 20% keeps its users and
gains new ones. The bucketing key of a flag is ``flag_key + targeting_key`` unless the
rule names its own (:func:`flag_bucketing_key`); the router uses
``environment + sticky value``, the environment playing the part of the flag key.
"""

from __future__ import annotations

__all__ = ["MAX_TOTAL_WEIGHT", "bucket_of", "flag_bucketing_key", "hash_of", "pick"]

from collections.abc import Sequence
from typing import TypeVar

import mmh3

T = TypeVar("T")

MAX_TOTAL_WEIGHT = 2**31 - 1
"""The largest sum of weights flagd accepts (a signed 32-bit integer)."""

_SEED = 0


def hash_of(key: str | bytes) -> int:
    """MurmurHash3 x86 32-bit of ``key`` (a str is hashed as its UTF-8 bytes), unsigned."""
    return mmh3.hash(key, _SEED, False)


def bucket_of(key: str | bytes, total_weight: int) -> int:
    """The bucket of ``key`` in ``[0, total_weight)``.

    ``total_weight`` must be between 1 and :data:`MAX_TOTAL_WEIGHT`; anything else is a
    programming error and raises :class:`ValueError`.
    """
    if not 0 < total_weight <= MAX_TOTAL_WEIGHT:
        raise ValueError(
            f"total weight {total_weight} is out of range; it must be between 1 and "
            f"{MAX_TOTAL_WEIGHT}."
        )
    return (mmh3.hash(key, _SEED, False) * total_weight) >> 32


def pick(key: str | bytes, weighted: Sequence[tuple[T, int]]) -> T | None:
    """The variant that ``key`` falls into among ``weighted`` ``(variant, weight)`` pairs.

    Order matters: buckets are laid out in the given order. A negative weight counts as 0
    (as the flagd test kit expects). There is no answer (None) when the weights sum to 0 or
    exceed :data:`MAX_TOTAL_WEIGHT`; the flag evaluator then falls back to the default
    variant.
    """
    total = 0
    for _, weight in weighted:
        if weight > 0:
            total += weight
    if total == 0 or total > MAX_TOTAL_WEIGHT:
        return None
    bucket = (mmh3.hash(key, _SEED, False) * total) >> 32
    running = 0
    for variant, weight in weighted:
        if weight > 0:
            running += weight
            if bucket < running:
                return variant
    # Unreachable: bucket < total == running after the last positive weight.
    return None  # pragma: no cover


def flag_bucketing_key(flag_key: str, targeting_key: str) -> str:
    """The key ``fractional`` buckets by when its rule names none: flag key + targeting key."""
    return f"{flag_key}{targeting_key}"
