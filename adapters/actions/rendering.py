"""Template rendering in jinja2's sandbox, with every variable required to exist.

``SandboxedEnvironment`` refuses unsafe attribute access (``''.__class__.__mro__``, function globals...) and
``StrictUndefined`` makes an unknown variable an error rather than an empty string. A template is also parsed and
its free variables compared with the context's names, so a variable in a branch the sample does not take is
refused at definition time too. Every refusal is an InvalidValueError (422 at definition, a failed run at run time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from domain.errors import InvalidValueError

MAX_OUTPUT = 100_000


class TemplateRefusedError(InvalidValueError):
    """The template is not valid, not safe, or names variables a run does not give it."""


class JinjaRenderer:
    """Renders and checks action templates in a sandbox."""

    def __init__(self) -> None:
        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

    def render(self, text: str, context: Mapping[str, Any]) -> str:
        try:
            out = self.env.from_string(text).render(**context)
        except SecurityError as error:
            raise TemplateRefusedError(f"the template does something the sandbox forbids: {error}") from None
        except TemplateError as error:
            raise TemplateRefusedError(f"the template cannot be rendered: {error}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as error:
            raise TemplateRefusedError(f"the template failed: {type(error).__name__}: {error}") from None
        if len(out) > MAX_OUTPUT:
            raise TemplateRefusedError(f"the rendered template exceeds {MAX_OUTPUT} characters")
        return out

    def check(self, text: str, context: Mapping[str, Any]) -> None:
        """Refuses a template with free variables the context lacks, or that does not render from it."""
        try:
            free = meta.find_undeclared_variables(self.env.parse(text))
        except TemplateError as error:
            raise TemplateRefusedError(f"the template is not valid: {error}") from None
        unknown = sorted(free - set(context))
        if unknown:
            known = ", ".join(sorted(context))
            raise TemplateRefusedError(f"unknown template variables: {', '.join(unknown)} (known: {known})")
        self.render(text, context)
