"""Carrier adapters: what each carrier offers (its events for a shipment, its tracking page), and the
simulated carrier that serves development and tests. Emails and pages read a carrier's name and
tracking address from here; fulfillment.tracking applies what carriers report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from fulfillment.business_days import add_business_days
from portal.errors import ServiceError

if TYPE_CHECKING:  # the models read a carrier's name and page from here (Shipment.carrier_name): no import back at run time
    from fulfillment.models import Shipment


@dataclass(frozen=True)
class CarrierEvent:
    event_id: str
    status: str
    occurred_at: dt.datetime
    description: str = ""


class Carrier:
    """What every carrier adapter offers."""

    code = ""
    name = ""
    # Business days in transit by service, as the carrier publishes them; a service not listed is taken as
    # the slowest. The cold chain goes overnight.
    services = {"Overnight": 1, "Two-day": 2, "Ground": 5}
    cold_chain_service = "Overnight"

    def transit_days(self, service: str) -> int:
        wanted = (service or "").strip().lower()
        for name, days in self.services.items():
            if name.lower() == wanted:
                return days
        return max(self.services.values())

    def estimated_delivery(self, shipment: Shipment) -> dt.date:
        """The carrier's delivery estimate for a parcel handed over now: its service's transit days."""
        return add_business_days(timezone.localtime(shipment.shipped_at).date(), self.transit_days(shipment.service))

    def events(self, shipment: Shipment, *, now: dt.datetime) -> list[CarrierEvent]:
        raise NotImplementedError

    def tracking_url(self, tracking_number: str) -> str:
        """The carrier's own public tracking page for this parcel, or "" when it has none."""
        raise NotImplementedError


class SimulatedCarrier(Carrier):
    """Development and tests: one step per SIMULATED_CARRIER_STEP_SECONDS after shipping."""

    code = "simulated"
    name = "Simulated Express"
    # ShipmentStatus values (fulfillment.models.shipping), as the carrier reports them
    STEPS = (("in_transit", "Picked up, in transit"), ("out_for_delivery", "Out for delivery"),
             ("delivered", "Delivered to the front door"))

    def events(self, shipment, *, now):
        step = dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS)
        found = []
        for index, (status, text) in enumerate(self.STEPS, start=1):
            at = shipment.shipped_at + step * index
            if at <= now:
                found.append(CarrierEvent(event_id=f"{shipment.tracking_number}-{index}", status=status, occurred_at=at, description=text))
        return found

    def tracking_url(self, tracking_number):
        # No such carrier exists, so there is no page to send anyone to: the portal's own pages (the
        # patient's status page, the order page) show the parcel's tracking events instead.
        return ""

    def estimated_delivery(self, shipment):
        """The service's transit in business days (Overnight: the next business day, never the day it is handed
        over), or its own schedule's last step when that is later (a slow simulation in tests)."""
        step = dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS)
        scheduled = timezone.localtime(shipment.shipped_at + step * len(self.STEPS)).date()
        return max(super().estimated_delivery(shipment), scheduled)


CARRIERS = {carrier.code: carrier for carrier in (SimulatedCarrier(),)}


def carrier_for(code: str) -> Carrier:
    carrier = CARRIERS.get(code)
    if carrier is None:
        raise ServiceError(f"Unknown carrier {code!r}.", fields={"carrier": [f"Use one of: {', '.join(CARRIERS)}."]})
    return carrier


def tracking_url(shipment: Shipment) -> str | None:
    """The carrier's own tracking page for a shipment, or None when it has none."""
    carrier = CARRIERS.get(shipment.carrier)
    return (carrier.tracking_url(shipment.tracking_number) or None) if carrier else None
