"""What the pharmacy tells the outside world: the outbox (`outbox`), emails (`emails`), webhooks to
the clinics' platforms (`webhooks`), their Celery tasks (`tasks`), and the clinic's pages (`views`)
and API (`api`, with the event feed) for its webhook endpoints. The models are in
`fulfillment.models.notifications`."""
