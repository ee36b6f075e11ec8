from django.apps import AppConfig


class TemplatesI18NConfig(AppConfig):
    name = "templates_i18n"
