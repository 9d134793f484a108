"""A small in-memory token bucket per client address, for the pages anyone may open
without signing in (the public summary). Per instance: the limit is a courtesy to the
instance's own event loop and bandwidth, not an account lockout (sign-in throttling is in
PostgreSQL, shared by every instance; see ``auth.py``).

Clock: the wall clock (``time.time``), so tests move it with time-machine instead of
sleeping; a clock that goes backwards refills nothing and takes nothing away.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# IPv6 clients are keyed by their /64: one household or phone holds a whole /64 and can
# pick a new address in it for every request.
IPV6_PREFIX = 64


@dataclass
class _Bucket:
    tokens: float
    at: float


def client_key(address: str) -> str:
    """The bucket an address draws from: itself (IPv4), its /64 (IPv6), or the text as
    given when it is not an address (``unknown``)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class TokenBuckets:
    """``capacity`` requests at once, refilled at ``per_second``; at most ``max_clients``
    buckets are kept (full ones are dropped first: a full bucket is the same as none)."""

    def __init__(
        self,
        *,
        capacity: int,
        per_second: float,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1 or per_second <= 0 or max_clients < 1:
            raise ValueError("capacity, rate and max_clients must be positive")
        self.capacity = capacity
        self.per_second = per_second
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        elapsed = max(now - bucket.at, 0.0)
        return min(self.capacity, bucket.tokens + elapsed * self.per_second)

    def take(self, address: str) -> float:
        """Take one token for ``address``. Returns 0 when the request may go ahead,
        otherwise the whole seconds until a token is back (for Retry-After, at least 1)."""
        key = client_key(address)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = _Bucket(tokens=float(self.capacity), at=now)
            self._buckets[key] = bucket
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = self._refilled(bucket, now)
            bucket.at = max(bucket.at, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1.0, math.ceil((1 - bucket.tokens) / self.per_second))

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_clients:
            return
        for key in [k for k, b in self._buckets.items() if self._refilled(b, now) >= self.capacity]:
            del self._buckets[key]
        while len(self._buckets) >= self.max_clients:
            self._buckets.popitem(last=False)  # the longest unused
