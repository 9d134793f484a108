"""Notifications: one mechanism that reaches people who are not looking (issue 13 §1).

A package by room (callers import ``bedboard.notify``; this module re-exports the public
names). It owns the tables ``deliveries``, ``notify_preferences``, ``facility_contacts``,
``webhook_endpoints``, ``notify_acks`` and ``notify_cursor``; nobody else writes them.

- models.py   events (label, roles that may subscribe, default channels, critical),
              channels, the message (never clinical or personal text), recipients,
              the views. No I/O.
- store.py    the tables: ``enqueue`` (one row per recipient and channel, deduplicated),
              recipients from preferences (with quiet hours) and facility contacts,
              preferences, contacts, webhook endpoints, history, in-app alerts and
              their acknowledgements.
- fanin.py    the outbox's referral events → deliveries, after a stored cursor.
- dispatch.py claims due rows (``FOR UPDATE SKIP LOCKED``) and sends them: email
              (aiosmtplib), signed webhooks (standardwebhooks), in-app (the outbox's
              ``alerts`` topic); backoff with jitter; dead letters.
- sink.py     the demo's local SMTP sink (aiosmtpd).

::

    placements (refer, accept, …) ─► board_outbox ─► fanin.fan_in ─► deliveries
                                                                       │ dispatch.dispatch_due
                                  SMTP ◄── email ◄──────────────────────┤
                  webhook receiver ◄── signed POST ◄────────────────────┤
       browser banner ◄─ /ws ◄─ hub ◄─ board_outbox (alerts) ◄─ in_app ◄┘
"""

from bedboard.notify import occasions
from bedboard.notify.dispatch import Config, Dispatched, backoff, dispatch_due
from bedboard.notify.fanin import FanIn, fan_in, skip_to_head
from bedboard.notify.models import (
    EVENTS,
    USER_CHANNELS,
    Alert,
    Channel,
    Delivery,
    Event,
    EventInfo,
    Message,
    Preferences,
    Recipient,
    Status,
    default_channels,
    events_for,
    referral_answered,
    referral_arrived,
)
from bedboard.notify.store import (
    FacilityContact,
    NewWebhookEndpoint,
    WebhookEndpoint,
    acknowledge,
    check_webhook_url,
    contact_recipients,
    create_endpoint,
    enqueue,
    intake_contact,
    list_deliveries,
    list_endpoints,
    preferences,
    quiet_until,
    retry,
    save_preferences,
    set_endpoint_active,
    set_intake_contact,
    unacknowledged,
    user_recipients,
)

__all__ = [
    "EVENTS",
    "USER_CHANNELS",
    "Alert",
    "Channel",
    "Config",
    "Delivery",
    "Dispatched",
    "Event",
    "EventInfo",
    "FacilityContact",
    "FanIn",
    "Message",
    "NewWebhookEndpoint",
    "Preferences",
    "Recipient",
    "Status",
    "WebhookEndpoint",
    "acknowledge",
    "backoff",
    "check_webhook_url",
    "contact_recipients",
    "create_endpoint",
    "default_channels",
    "dispatch_due",
    "enqueue",
    "events_for",
    "fan_in",
    "intake_contact",
    "list_deliveries",
    "list_endpoints",
    "occasions",
    "preferences",
    "quiet_until",
    "referral_answered",
    "referral_arrived",
    "retry",
    "save_preferences",
    "set_endpoint_active",
    "set_intake_contact",
    "skip_to_head",
    "unacknowledged",
    "user_recipients",
]
