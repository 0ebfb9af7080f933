import os

from django.core.management.base import BaseCommand

from portal.demo import DEFAULT_DEMO_PASSWORD, DEMO_USERS, demo_data_load


class Command(BaseCommand):
    help = "Load the demo formulary, users, clinics, patients and stock (idempotent)."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
        result = demo_data_load(password=password)
        self.stdout.write(f"Demo data ready ({result['new_lots']} new stock lots).")
        self.stdout.write("Demo sign-ins (password: " + ("$DEMO_PASSWORD" if os.environ.get("DEMO_PASSWORD") else password) + "):")
        for username, role, first, last, _email, _su in DEMO_USERS:
            self.stdout.write(f"  {username:<11} {role.label} ({first} {last})")
        self.stdout.write("Two-factor sign-in is required: each user's first sign-in shows a QR code for an authenticator app.")
