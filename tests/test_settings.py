"""Settings: in-memory by default, a clear error naming the bad setting, and no password in sight."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.database import InvalidSettingError, create_client
from app.settings import IN_MEMORY_URL, Driver, Settings, redact_url

PASSWORD = "hunter2-Secret"


def test_defaults_run_in_memory_on_motor(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGODB_URL", "MONGODB_DB", "MONGODB_DRIVER"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert settings.in_memory
    assert settings.mongodb_driver is Driver.MOTOR
    assert settings.mongodb_db == "items"


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.example:27017/")
    monkeypatch.setenv("MONGODB_DB", "shop")
    monkeypatch.setenv("MONGODB_DRIVER", "pymongo")
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", "1500")

    settings = Settings()

    assert not settings.in_memory
    assert (settings.mongodb_db, settings.mongodb_driver, settings.mongodb_timeout_ms) == ("shop", Driver.PYMONGO, 1500)


def test_an_empty_mongodb_url_means_unset_so_the_in_memory_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # `MONGODB_URL=`, as a .env template leaves it, is not a URL that fails to parse: it is no URL.
    monkeypatch.setenv("MONGODB_URL", "")

    assert Settings().in_memory


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_left_empty_in_the_environment_takes_its_default(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    monkeypatch.setenv(field.upper(), "")

    assert getattr(Settings(), field) == Settings.model_fields[field].default


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("mongodb_url", f"postgres://u:{PASSWORD}@h/", id="unknown-scheme"),
        pytest.param("mongodb_url", f"u:{PASSWORD}@h", id="no-scheme"),
        pytest.param("mongodb_url", "mongodb:///db", id="no-host"),
        pytest.param("mongodb_db", "my.db", id="dot-in-db-name"),
        pytest.param("mongodb_db", "", id="empty-db-name"),
        pytest.param("mongodb_driver", "pymongo-sync", id="unknown-driver"),
        pytest.param("mongodb_timeout_ms", "0", id="zero-timeout"),
        pytest.param("max_body_bytes", "-1", id="negative-body-limit"),
    ],
)
def test_an_invalid_setting_fails_naming_it_without_echoing_the_value(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate({field: value})

    message = str(raised.value)
    assert field in message
    assert PASSWORD not in message


def test_a_url_the_driver_rejects_fails_when_the_client_is_built_naming_the_setting() -> None:
    settings = Settings(mongodb_url=f"mongodb://admin:{PASSWORD}@db.example:99999/")

    with pytest.raises(InvalidSettingError, match="MONGODB_URL") as raised:
        create_client(settings)

    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    "query", [pytest.param("notAnOption=1", id="unknown-option"), pytest.param("tls=maybe", id="bad-option-value")]
)
def test_a_url_option_the_driver_would_ignore_fails_when_the_client_is_built(query: str) -> None:
    # The drivers only warn and ignore such an option; a URL that cannot work as written must stop the app.
    settings = Settings(mongodb_url=f"mongodb://admin:{PASSWORD}@db.example/?{query}")

    with pytest.raises(InvalidSettingError, match="MONGODB_URL") as raised:
        create_client(settings)

    assert PASSWORD not in str(raised.value)


def test_repr_and_str_hide_the_url() -> None:
    settings = Settings(mongodb_url=f"mongodb://admin:{PASSWORD}@db.example/")

    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (f"mongodb://admin:{PASSWORD}@db.example:27017/x", "mongodb://admin:***@db.example:27017/x"),
        (f"mongodb+srv://admin:{PASSWORD}@cluster.example/", "mongodb+srv://admin:***@cluster.example/"),
        ("mongodb://admin@db.example/", "mongodb://admin:***@db.example/"),
        ("mongodb://db.example/", "mongodb://db.example/"),
        (
            f"mongodb://db.example/?tls=true&tlsCertificateKeyFilePassword={PASSWORD}&appname=x",
            "mongodb://db.example/?tls=true&tlsCertificateKeyFilePassword=***&appname=x",
        ),
        ("not a url", "***"),
    ],
)
def test_redact_url_replaces_only_the_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_every_driver_gets_the_apps_database_deadline_but_pymongo_operations_are_never_cancelled() -> None:
    # Cancelling a PyMongo async operation can leave its topology lock held for good on Python 3.11
    # (Settings.may_cancel_database_calls; test_flapping_database): at the deadline the app stops waiting.
    server = "mongodb://db.example:27017/"
    motor = Settings(mongodb_url=server, mongodb_driver=Driver.MOTOR, mongodb_timeout_ms=4000)
    pymongo = Settings(mongodb_url=server, mongodb_driver=Driver.PYMONGO, mongodb_timeout_ms=4000)
    in_memory = Settings(mongodb_url=IN_MEMORY_URL, mongodb_driver=Driver.PYMONGO, mongodb_timeout_ms=4000)
    assert motor.database_deadline_s == pymongo.database_deadline_s == in_memory.database_deadline_s == 5.0
    assert motor.may_cancel_database_calls
    assert not pymongo.may_cancel_database_calls
    assert in_memory.may_cancel_database_calls
