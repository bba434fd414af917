"""Latency samples and how the latency benchmarks print them."""

import math
from dataclasses import dataclass, field


@dataclass
class Samples:
    """The latencies (seconds) of one kind of request over one measured window."""

    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    window: float = 0.0  # how long the measured window lasted

    def add(self, latency: float) -> None:
        self.seconds.append(latency)

    @property
    def count(self) -> int:
        return len(self.seconds)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.seconds:
            return math.nan
        ordered = sorted(self.seconds)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def mean(self) -> float:
        return sum(self.seconds) / len(self.seconds) * 1000 if self.seconds else math.nan

    @property
    def max(self) -> float:
        return max(self.seconds) * 1000 if self.seconds else math.nan

    @property
    def per_second(self) -> float:
        return self.count / self.window if self.window else math.nan

    def merged(self, other: "Samples") -> "Samples":
        return Samples(self.seconds + other.seconds, self.errors + other.errors, self.window)


HEADER = f"{'':34s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s} {'max ms':>8s} {'count':>8s} {'req/s':>8s} {'errors':>6s}"


def row(label: str, samples: Samples) -> str:
    return (f"{label:34s} {samples.percentile(50):8.2f} {samples.percentile(99):8.2f} {samples.mean:8.2f} "
            f"{samples.max:8.2f} {samples.count:8d} {samples.per_second:8.1f} {samples.errors:6d}")


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"
