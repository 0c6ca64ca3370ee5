"""The local stack behind `make run`: embedded PostgreSQL, migrations, workspace emulator, API and worker."""
