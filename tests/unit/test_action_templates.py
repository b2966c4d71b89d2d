"""The template sandbox: unsafe access and unknown variables are refused; safe templates render."""

from __future__ import annotations

import pytest

from adapters.actions.rendering import JinjaRenderer, TemplateRefusedError
from application.actions import context_for, sample_trigger

CONTEXT = context_for("run-1", 0, sample_trigger(), {"channel": "ops"})


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ trigger.__class__.__init__.__globals__ }}",
        "{{ params.update.__self__ }}{{ cycler.__init__.__globals__.os }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_sandbox_escapes_are_refused(text: str) -> None:
    with pytest.raises(TemplateRefusedError):
        JinjaRenderer().check(text, CONTEXT)


@pytest.mark.parametrize(
    "text", ["{{ secret }}", "{{ trigger.nope }}", "{% if false %}{{ hidden }}{% endif %}", "{{ params.other }}"]
)
def test_unknown_variables_are_refused(text: str) -> None:
    with pytest.raises(TemplateRefusedError):
        JinjaRenderer().check(text, CONTEXT)


def test_invalid_syntax_is_refused() -> None:
    with pytest.raises(TemplateRefusedError, match="not valid"):
        JinjaRenderer().check("{{ trigger.value ", CONTEXT)


def test_a_safe_template_renders_the_trigger_and_parameters() -> None:
    text = "{{ trigger.kpi }}={{ trigger.value }} on {{ params.channel }} step {{ step }} ({{ run_id }})"
    JinjaRenderer().check(text, CONTEXT)
    assert JinjaRenderer().render(text, CONTEXT) == "sample=1.0 on ops step 1 (run-1)"


def test_dimension_names_are_open_in_the_sample_but_strict_at_run_time() -> None:
    JinjaRenderer().check("{{ trigger.dimensions.country }}", CONTEXT)
    real = context_for("run-1", 0, sample_trigger() | {"dimensions": {"store": "x"}}, {})
    with pytest.raises(TemplateRefusedError):
        JinjaRenderer().render("{{ trigger.dimensions.country }}", real)
