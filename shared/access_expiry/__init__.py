"""Time-boxed access: grants and recipients that expire (`expires_on` in a pack) and projects whose access must
be recertified every N days. The sync service reminds the requestor and the project's owners 14, 3 and 1 days
before, and at the deadline revokes the access through a new version of the pack, whose history says why."""
