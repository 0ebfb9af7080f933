"""What the order door announces. `orders.transitions.event_record` writes every event of an order (its
own status changes, and each job's, which the job door records through it) and then sends
`order_event_recorded` inside the same transaction: a receiver's writes commit or roll back with the
change, and a receiver that raises undoes it.

Apps above orders subscribe (fulfillment does, in its AppConfig.ready): that is how an order's cancel
reaches its jobs, and how a change becomes an email or a webhook, without orders importing them.

    order_event_recorded.connect(receiver, dispatch_uid="...")
    def receiver(sender, event, **kwargs): ...   # event: the OrderEvent just written
"""

from django.dispatch import Signal

order_event_recorded = Signal()
