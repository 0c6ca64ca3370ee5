"""Schedules and the sync service's settings: intervals and cron expressions, and clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings
from sync.jobs import JOBS, SCHEDULE_SETTING
from sync.schedule import Schedule

NOON = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/1 * * * *", datetime(2026, 11, 30, 12, 1, tzinfo=UTC)),
        ("0 3 * * *", datetime(2026, 12, 1, 3, 0, tzinfo=UTC)),
        ("30", datetime(2026, 11, 30, 12, 1, 0, tzinfo=UTC)),
        ("2.5s", datetime(2026, 11, 30, 12, 0, 32, 500000, tzinfo=UTC)),
    ],
)
def test_next_run(expression, expected):
    assert Schedule(expression).next_after(NOON) == expected


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=None)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("sync_schedule_notifications", "every minute", "Invalid setting sync_schedule_notifications"),
        ("sync_schedule_notifications", "0", "Invalid setting sync_schedule_notifications"),
        ("sync_schedule_notifications", "* * * * * *", "Invalid setting sync_schedule_notifications"),
        ("activation_link_keys", "short", "Invalid setting activation_link_keys"),
        ("smtp_port", "70000", "Invalid setting smtp_port"),
        ("operator_emails", "ops@example.com, nobody", "Invalid setting operator_emails"),
        ("smtp_starttls", "maybe", "Invalid setting smtp_starttls"),
    ],
)
def test_bad_values_name_the_setting(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        settings(**{name: value})


def test_good_values_are_read():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    parsed = settings(
        activation_link_keys=f"{new}, {old}",
        operator_emails="ops@example.com other@example.com",
        smtp_starttls="true",
        smtp_port="587",
    )
    assert parsed.activation_link_keys == (new, old)
    assert parsed.operator_emails == ("ops@example.com", "other@example.com")
    assert parsed.smtp_starttls is True and parsed.smtp_port == 587


def test_every_registered_job_has_a_schedule_setting():
    assert set(JOBS) == set(SCHEDULE_SETTING)
    for setting in SCHEDULE_SETTING.values():
        assert hasattr(Settings(), setting)
