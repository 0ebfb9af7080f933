from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self):
        # Orders asks fulfillment for the delivery promise through this one seam (orders/promise.py):
        # the estimate needs the queue and the pharmacy's pace, which live here.
        from fulfillment.promise import order_signing_estimate
        from orders.promise import promise_estimator_register

        promise_estimator_register(order_signing_estimate)
