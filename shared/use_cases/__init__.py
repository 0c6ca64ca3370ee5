"""Share pack use cases: submit an upload, read status and history, and move a pack through its lifecycle."""
