from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from billing import stripe_api, webhooks

        stripe_api.configure()
        webhooks.connect()

        def _reconfigure(setting, **kwargs):
            if setting in {"STRIPE_API_BASE", "STRIPE_TIMEOUT"}:
                stripe_api.configure()

        # Tests point STRIPE_API_BASE at a local stand-in after start-up.
        setting_changed.connect(_reconfigure, weak=False, dispatch_uid="billing-stripe-base")
