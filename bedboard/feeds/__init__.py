"""Census feeds: configured adapters bound to a facility, and what they deliver.

Callers import ``bedboard.feeds``; the package is split by room, and each module imports
only the ones listed before it:

- ``models``       feeds as the API and the pages show them, ``IngestResult``; no I/O.
- ``config``       a feed's settings: the kind's model validates them, secrets are split
                   off, local paths must lie in the feed folders; ``build_adapter``.
- ``store``        the feed tables (feeds, feed_status, feed_mappings, feed_unmapped,
                   feed_quarantine): feed CRUD, secrets, mappings, the quarantine, the
                   cursor. Everyone else reads and writes them through it.
- ``health``       ``record_attempt``: a feed's state after each poll or message, a board
                   ``feed`` event and one log line when the state changes.
- ``ingest``       ``ingest``: adapter output → mapped; copies of the stored census set
                   aside unvalidated; the rest validated, the newer ones ``census.apply``.
- ``coordinator``  polled feeds: the due scan, one poll per feed across instances
                   (advisory lock), timeout, cursor, backoff, permanent stop; ``check_feed``.
- ``routes``       the HL7 routing cache: each enabled hl7 feed's settings and mappings,
                   kept per listener, checked against ``feed_routing_version``.
- ``hl7``          the database side of the ``hl7`` kind: routing, ACK rules, dedupe,
                   bed state (hl7_messages, hl7_beds), census from beds, one transaction
                   per run of a feed's messages, ``prune_messages``.
- ``mllp``         the MLLP listener (one per instance) that hands ``hl7`` each block with
                   those already buffered behind it.
- ``demo``         demo sources: one facility per kind fed from simulated local sources.

Data flow::

    polled kinds: scheduler → coordinator.poll_due → poll_feed → adapter.fetch(cursor)
    hl7:          hospital → mllp listener → hl7.handle_batch (route from the cache,
                  dedupe, beds → reports; one transaction per run of a feed's messages)
                        │
                        ▼
    ingest.ingest(conn, feed_id, parsed) → quarantine / unmapped (store)
                                         → census.apply (source "feed:<id>")
    health.record_attempt → feed_status (store); on a change, a board `feed` event
"""

from __future__ import annotations

from bedboard.feeds import coordinator, demo, hl7, mllp, routes
from bedboard.feeds.config import adapter_class, build_adapter, check_local_paths, validate_config
from bedboard.feeds.coordinator import (
    POLL_TIMEOUT_S,
    SCAN_INTERVAL_S,
    PollOutcome,
    backoff,
    check_feed,
    poll_due,
    poll_feed,
)
from bedboard.feeds.health import Attempt, record_attempt
from bedboard.feeds.hl7 import handle, handle_batch, prune_messages
from bedboard.feeds.ingest import ingest
from bedboard.feeds.mllp import Listener, start_listener
from bedboard.feeds.models import (
    Feed,
    FeedHealth,
    FeedIn,
    FeedList,
    FeedPatch,
    IngestResult,
    QuarantineEntry,
    QuarantinePage,
    Unmapped,
)
from bedboard.feeds.store import (
    QUARANTINE_KEEP,
    add_to_quarantine,
    clean_text,
    create_feed,
    feed_secrets,
    get_feed,
    list_feeds,
    quarantine,
    save_cursor,
    update_feed,
)

__all__ = [
    "POLL_TIMEOUT_S",
    "QUARANTINE_KEEP",
    "SCAN_INTERVAL_S",
    "Attempt",
    "Feed",
    "FeedHealth",
    "FeedIn",
    "FeedList",
    "FeedPatch",
    "IngestResult",
    "Listener",
    "PollOutcome",
    "QuarantineEntry",
    "QuarantinePage",
    "Unmapped",
    "adapter_class",
    "add_to_quarantine",
    "backoff",
    "build_adapter",
    "check_feed",
    "check_local_paths",
    "clean_text",
    "coordinator",
    "create_feed",
    "demo",
    "feed_secrets",
    "get_feed",
    "handle",
    "handle_batch",
    "hl7",
    "ingest",
    "list_feeds",
    "mllp",
    "poll_due",
    "poll_feed",
    "prune_messages",
    "quarantine",
    "record_attempt",
    "routes",
    "save_cursor",
    "start_listener",
    "update_feed",
    "validate_config",
]
