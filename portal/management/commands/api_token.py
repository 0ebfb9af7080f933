"""Issue an API token from the command line (for a platform account, or a bench): printed once, only its hash is kept."""

from django.core.management.base import BaseCommand, CommandError

from portal.models import User
from portal.services import api_token_issue


class Command(BaseCommand):
    help = "Issue an API token for a user and print it (it cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="What will use the token.")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        self.stdout.write(api_token_issue(user=user, name=name[:100]))
