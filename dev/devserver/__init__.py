"""What the two development emulators (``emulator`` for Databricks, ``graph_emulator`` for Microsoft Graph)
have in common: serving an app over threaded HTTP, running in the foreground until a signal, writing a state
file atomically, and the hooks client tests and ``make run`` drive them with.

Dev-only: no deployable (``shared``, ``api``, ``worker``, ``sync``) imports it, and neither does it import
either emulator, so each emulator keeps only what is its own.
"""
