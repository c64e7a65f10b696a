"""How long to pause after failures in a row: doubling from `first`, capped, with ±20 %
jitter so replicas that failed together do not retry together."""

import random


def backoff_seconds(failures: int, maximum: float, first: float = 1.0) -> float:
    return min(maximum, first * 2 ** max(0, failures - 1)) * random.uniform(0.8, 1.2)
