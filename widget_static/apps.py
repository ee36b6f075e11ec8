from django.apps import AppConfig


class WidgetStaticConfig(AppConfig):
    name = "widget_static"
