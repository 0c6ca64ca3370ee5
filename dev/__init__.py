"""Development only: the workspace and Graph emulators, the dev-server plumbing they share, and the
local stack `make run` starts (`python -m dev.devstack`). No image ships this folder and no deployable
imports it (tests/unit/test_layering.py)."""
