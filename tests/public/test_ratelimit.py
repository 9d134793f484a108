"""The per-address token bucket behind the public summary's rate limit."""

from __future__ import annotations

import pytest

from bedboard.ratelimit import TokenBuckets, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_each_request_waits_for_its_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(capacity=3, per_second=0.5, clock=clock)
    assert [buckets.take("192.0.2.1") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("192.0.2.1") == 2  # one token every 2 s
    clock.now += 1
    assert buckets.take("192.0.2.1") == 1
    clock.now += 1
    assert buckets.take("192.0.2.1") == 0
    assert buckets.take("192.0.2.2") == 0  # another address, another bucket


def test_a_clock_moving_backwards_gives_no_tokens() -> None:
    clock = Clock()
    buckets = TokenBuckets(capacity=1, per_second=1, clock=clock)
    assert buckets.take("192.0.2.1") == 0
    clock.now -= 3_600
    assert buckets.take("192.0.2.1") == 1
    clock.now += 1  # still an hour behind the bucket's last moment
    assert buckets.take("192.0.2.1") == 1


def test_ipv6_addresses_of_one_slash_64_share_a_bucket() -> None:
    assert (
        client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == ("2001:db8:1:2::/64")
    )
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("unknown") == "unknown"


def test_the_number_of_buckets_is_bounded_and_refilled_ones_go_first() -> None:
    clock = Clock()
    buckets = TokenBuckets(capacity=2, per_second=1, max_clients=2, clock=clock)
    buckets.take("192.0.2.1")
    buckets.take("192.0.2.1")  # empty
    buckets.take("192.0.2.2")
    clock.now += 1  # .2 is full again (the same as never seen); .1 has one token
    buckets.take("192.0.2.3")  # no room: .2 goes, not the address still being limited
    assert len(buckets) == 2
    assert buckets.take("192.0.2.1") == 0
    assert buckets.take("192.0.2.1") == 1
    # With no full bucket to drop, the longest unused goes, and the count stays bounded.
    buckets.take("192.0.2.4")
    assert len(buckets) == 2


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBuckets(capacity=0, per_second=1)
