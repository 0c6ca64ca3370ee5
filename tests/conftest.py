"""Suite-wide fixtures: real services started once per session (PostgreSQL, Azurite, the workspace emulator)."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.azurite",
    "tests.fixtures.emulator",
    "tests.fixtures.smtp",
]
