"""The webhooks table: the allowlist, URLs that are refused, and what is printed."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from wfaudit import Auditor
from wfaudit_hookspecs import ConfigurationError
from wfaudit_webhooks import DeadLetters, WebhookConfig, dispatcher_for
from wfaudit_webhooks.config import redact_url
from wfaudit_webhooks.plugin import config_of

from .conftest import Receiver


def config(**table: object) -> WebhookConfig | None:
    return WebhookConfig.from_options({"webhooks": table}, home=pathlib.Path("/nonexistent"))


def test_no_table_or_no_endpoints_means_no_webhooks() -> None:
    assert WebhookConfig.from_options({}, home=pathlib.Path("/x")) is None
    assert config(endpoints=[]) is None


@pytest.mark.parametrize(
    ("url", "allow", "allowed"),
    [
        ("https://hooks.example.com/a", ["hooks.example.com"], True),
        ("https://HOOKS.example.com:443/a", ["hooks.example.com:443"], True),
        ("https://hooks.example.com:8443/a", ["hooks.example.com:443"], False),
        ("https://hooks.example.com.evil.test/a", ["hooks.example.com"], False),
        ("http://127.0.0.1:9000/a", ["127.0.0.1"], True),
        ("http://[::1]:9000/a", ["[::1]:9000"], True),
    ],
)
def test_the_allowlist_matches_hosts_and_ports(url: str, allow: list[str], allowed: bool) -> None:
    if allowed:
        found = config(endpoints=[url], allow=allow)
        assert found is not None and found.is_allowed(url)
    else:
        with pytest.raises(ConfigurationError, match="is not on the allowlist"):
            config(endpoints=[url], allow=allow)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"endpoints": ["ftp://h/x"], "allow": ["h"]}, "is not an http"),
        ({"endpoints": ["https://u:pw@h/x"], "allow": ["h"]}, "carries credentials"),
        ({"endpoints": "https://h/x", "allow": ["h"]}, "must be a list"),
        ({"endpoints": ["https://h/x"], "allow": ["h"], "max_attempts": 0}, "outside 1..100"),
        ({"endpoints": ["https://h/x"], "allow": ["h"], "retries": 3}, "unknown webhooks"),
    ],
)
def test_bad_tables_say_what_is_wrong(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        config(**table)
    assert "pw" not in str(raised.value)


def test_urls_are_printed_without_path_or_query() -> None:
    url = "https://hooks.slack.test:8443/services/T000/B000/XXXXSECRET?token=abc"
    assert redact_url(url) == "https://hooks.slack.test:8443/…"
    found = config(endpoints=[url], allow=["hooks.slack.test"])
    assert "XXXXSECRET" not in repr(found) and "abc" not in repr(found)
    assert found is not None and found.delay(1) == 1.0 and found.delay(4) == 8.0


def test_redirects_are_not_followed(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
) -> None:
    receiver.statuses = [307]
    receiver.location = "http://elsewhere.test/steal"
    configure([receiver.url], ["127.0.0.1"], events=["snapshot.audited"])
    auditor = make_auditor()
    assert auditor.audit_trigger(
        workflow_id="1", workflow_type="CI", pipeline_id="p", config={"image": "a:1"}
    ).ok
    found = config_of(auditor.settings.options)
    assert found is not None and dispatcher_for(found).flush(30)
    assert len(receiver.received) == 1
    [letter] = DeadLetters(found.dead_letters).list()
    assert letter.last_error == "HTTP 307"
