from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self):
        """Subscribe to the order door's events. Notifications first, so that a receiver hears an order's
        cancel before the cancels of its jobs that it causes."""
        from fulfillment import workflows
        from fulfillment.notifications import subscribers
        from orders.events import order_event_recorded

        order_event_recorded.connect(subscribers.on_order_event, dispatch_uid="fulfillment.notifications.on_order_event")
        order_event_recorded.connect(workflows.on_order_event, dispatch_uid="fulfillment.workflows.on_order_event")

        # Orders asks fulfillment for the delivery promise through this one seam (orders/promise.py):
        # the estimate needs the queue and the pharmacy's pace, which live here.
        from fulfillment.promise import order_signing_estimate
        from orders.promise import promise_estimator_register

        promise_estimator_register(order_signing_estimate)
