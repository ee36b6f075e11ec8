"""Safe placeholders: `{name}` only. No attribute or index access, no conversions, no
format specs, so a template can neither reach into objects nor break the renderer."""

from string import Formatter

from chatorical.errors import Invalid


def placeholders(text: str) -> set[str]:
    """The names a template uses; raises Invalid for anything but plain `{name}`."""
    names = set()
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as exc:
        raise Invalid(
            code="invalid_template", message=f"Unbalanced braces: {exc}. Write {{{{ for a literal brace."
        ) from None
    for _, name, format_spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or format_spec or conversion:
            raise Invalid(
                code="invalid_placeholder",
                message=f"`{{{name}}}` is not allowed: use plain placeholders such as {{visitor_name}}.",
            )
        names.add(name)
    return names


def validate(text: str, *, allowed: frozenset[str]) -> None:
    unknown = placeholders(text) - allowed
    if unknown:
        names = ", ".join(f"{{{n}}}" for n in sorted(unknown))
        known = ", ".join(f"{{{n}}}" for n in sorted(allowed)) or "none"
        raise Invalid(code="unknown_placeholder", message=f"Unknown placeholder {names}; this text may use {known}.")


def render(text: str, variables: dict) -> str:
    """Substitutes each `{name}`; a name without a value renders as an empty string."""
    parts = []
    try:
        for literal, name, _, _ in Formatter().parse(text):
            parts.append(literal)
            if name is not None:
                parts.append(str(variables.get(name, "")))
    except ValueError:
        # Only v1 rows were stored unvalidated: such a text is shown as written rather
        # than failing the socket or page that shows it.
        return text
    return "".join(parts)
