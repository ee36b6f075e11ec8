"""How tenant texts look to integrators: the /api/v2 API and the v1 admin endpoints share
these shapes. Input serializers check only types; what a valid text is, the services say
(templates_i18n/services.py)."""

from rest_framework import serializers

from chatorical.drf import StrictCharField
from templates_i18n.models import MessageTemplate

FALLBACK_STEPS = ["exact", "language", "tenant_default", "builtin_locale", "legacy", "builtin", "draft"]
VARIABLE_MAX_CHARS = 1000

KEY_HELP = "A key of the catalog (`templates/catalog/`, `strings/catalog/`)."
LOCALE_HELP = "A language tag such as `en` or `de-AT`; stored normalized (`de_at` becomes `de-AT`)."
TEXT_HELP = "Up to 4000 characters; placeholders are `{name}` with the names the catalog allows for the key."


class TextSerializer(serializers.ModelSerializer):
    """A template or a UI string: both have the same fields."""

    class Meta:
        model = MessageTemplate
        fields = ["id", "key", "locale", "text", "updated_at"]
        read_only_fields = fields


class TextWriteSerializer(serializers.Serializer):
    # Blank values pass here so that the services name what is wrong with them.
    key = StrictCharField(allow_blank=True, help_text=KEY_HELP)
    locale = StrictCharField(allow_blank=True, help_text=LOCALE_HELP)
    text = StrictCharField(allow_blank=True, trim_whitespace=False, help_text=TEXT_HELP)


class TextFilterSerializer(serializers.Serializer):
    key = serializers.CharField(required=False, allow_blank=True, help_text="Only this key.")
    locale = serializers.CharField(
        required=False, allow_blank=True, help_text="Only this locale (any spelling of the tag)."
    )


class PreviewSerializer(serializers.Serializer):
    key = StrictCharField(allow_blank=True, help_text=KEY_HELP)
    locale = StrictCharField(allow_blank=True, help_text="The visitor's language tag, as the widget would send it.")
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=VARIABLE_MAX_CHARS),
        required=False,
        help_text='A value for each placeholder, e.g. {"visitor_name": "Ada"}; a missing one renders empty, '
        "`tenant` defaults to the tenant's name.",
    )
    text = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="An unsaved draft to preview, validated as saving it would be. Without it, the stored text "
        "is resolved through the locale fallback chain.",
    )


class PreviewResultSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The rendered text, as the visitor would see it.")
    key = serializers.CharField()
    locale_used = serializers.CharField(help_text="The locale whose text was used (`en` for the built-in text).")
    fallback_step = serializers.ChoiceField(
        choices=FALLBACK_STEPS,
        help_text="How the text was found: `exact` locale, its `language`, the tenant's default locale "
        "(`tenant_default`), the tenant's English text (`builtin_locale`), a v1 template of the default "
        "tenant (`legacy`), the built-in English text (`builtin`), or the request's `draft`.",
    )


class CatalogEntrySerializer(serializers.Serializer):
    key = serializers.CharField()
    text = serializers.CharField(help_text="The built-in English text, used when the tenant has none.")
    placeholders = serializers.ListField(child=serializers.CharField(), help_text="The placeholders the key allows.")
