from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from portal import lockout, ratelimit


class SignInForm(AuthenticationForm):
    """Django's sign-in form with the lockout: a locked username or address is refused outright."""

    locked = False

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # nothing was tried: the fields say what is missing
        address = ratelimit.client_address(self.request) if self.request else "unknown"
        if not lockout.attempt(username=username, address=address):
            self.locked = True
            raise ValidationError("Too many attempts.", code="locked")
        cleaned = super().clean()  # raises on a wrong password: the attempt stays counted
        lockout.success(username=username, address=address)
        return cleaned
