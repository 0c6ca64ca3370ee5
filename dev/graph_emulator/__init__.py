"""A Microsoft Graph emulator (users, groups, members, delta) for development and tests; see README.md."""
