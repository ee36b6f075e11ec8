"""How the Django admin answers a refusal (chatorical/errors.py): as the form's error, in
the service's own words, on the field the form is cleaning (or the form, in `clean`)."""

from contextlib import contextmanager

from django import forms

from chatorical.errors import ApiError


@contextmanager
def refusal_as_form_error():
    try:
        yield
    except ApiError as refusal:
        raise forms.ValidationError(refusal.message) from None
