"""The flow registry: the one list of flows and what each one is.

Everything that needs to know the flows reads them here: the engine (runner, capability),
the daemon (schedule), the config (``[stores.schedule]`` keys and defaults), ``status``
(cursor, pending intents, failures), ``retry`` (which cursors to rewind), webhooks (which
events trigger which flow) and the fleet's deferrer. Adding a flow is one entry here plus its module
``syncd.jobs.<name>`` with a ``run(ctx)`` coroutine.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from syncd.connector import Capability
from syncd.myogo.models import WebhookType
from syncd.state.ledger import Kind, OrderStatus

if TYPE_CHECKING:
    from syncd.jobs.base import FlowContext, FlowResult


@dataclass(frozen=True)
class Flow:
    """One flow: how it is found, gated, scheduled, reported, retried and triggered."""

    name: str                        # also its cursor stream and its schedule key
    capability: Capability           # the connector must have it, else the flow is skipped
    interval: timedelta              # default ``[stores.schedule]`` interval
    direction: str                   # for people: which way the data goes
    #: failure kinds (``failure.flow``) it owns -> the cursor streams ``retry`` rewinds
    failures: Mapping[str, tuple[str, ...]]
    #: the intent it resolves first; ``status`` shows those rows as "pending"
    intent: OrderStatus | None = None
    store_events: tuple[str, ...] = ()   # ``WebhookEvent.kind`` values that run it
    myogo_events: tuple[str, ...] = ()   # myOGO webhook types that run it

    @property
    def runner(self) -> Callable[[FlowContext], Awaitable[FlowResult]]:
        """``syncd.jobs.<name>.run`` (imported on use: the jobs import this module)."""
        return importlib.import_module(f"syncd.jobs.{self.name}").run  # type: ignore[no-any-return]


FLOWS: tuple[Flow, ...] = (
    Flow("products", Capability.PRODUCTS, timedelta(minutes=15), "store -> myOGO",
         failures={Kind.PRODUCTS: ("products",)},
         store_events=("product_changed",)),
    Flow("orders", Capability.ORDERS, timedelta(minutes=2), "store -> myOGO (paid)",
         failures={Kind.ORDERS: ("orders",), Kind.CANCELLATIONS: ("cancellations",)},
         intent=OrderStatus.SENDING, store_events=("order_paid", "order_cancelled")),
    Flow("stock", Capability.STOCK, timedelta(minutes=10), "myOGO -> store",
         failures={Kind.STOCK: ("stock", "stock_full")},
         myogo_events=(WebhookType.PRODUCT_STOCK_LEVEL_CHANGED,)),
    Flow("tracking", Capability.TRACKING, timedelta(minutes=10), "myOGO -> store",
         failures={Kind.TRACKING: ("tracking",)}, intent=OrderStatus.FULFILLING,
         myogo_events=(WebhookType.ORDER_SHIPPED,)),
)
BY_NAME: dict[str, Flow] = {flow.name: flow for flow in FLOWS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: failure kind -> cursor streams to rewind on ``retry``
REWIND: dict[str, tuple[str, ...]] = {
    kind: streams for flow in FLOWS for kind, streams in flow.failures.items()}


def get(name: str) -> Flow:
    """The flow called ``name``; KeyError names the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown flow {name!r}; flows: {', '.join(NAMES)}") from None


def for_store_event(kind: str) -> Flow | None:
    return next((f for f in FLOWS if kind in f.store_events), None)


def for_myogo_event(event: str) -> tuple[Flow, ...]:
    """The flows a myOGO delivery runs; an unrecognised one runs every myOGO-fed flow."""
    matched = tuple(f for f in FLOWS if event in f.myogo_events)
    return matched or tuple(f for f in FLOWS if f.myogo_events)
