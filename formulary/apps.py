from django.apps import AppConfig


class FormularyConfig(AppConfig):
    name = "formulary"
