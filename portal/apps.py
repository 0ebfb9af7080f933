from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal: accounts and pharmacy"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from portal import two_factor
        from portal.history import context_once_per_transaction

        context_once_per_transaction()  # the audit triggers' context: once per transaction, not before every write

        user_logged_in.connect(two_factor.remember_sign_in, dispatch_uid="portal-remember-sign-in")
