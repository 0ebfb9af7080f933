from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from portal import lockout, ratelimit


class SignInForm(AuthenticationForm):
    """Django's sign-in form with the lockout: a locked username or address is refused outright."""

    locked = False

    def clean(self):
        username = self.data.get("username", "")
        address = ratelimit.client_address(self.request) if self.request else "unknown"
        if lockout.is_locked(username=username, address=address):
            self.locked = True
            raise ValidationError("Too many attempts.", code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            lockout.failure(username=username, address=address)
            raise
        lockout.success(username=username, address=address)
        return cleaned
