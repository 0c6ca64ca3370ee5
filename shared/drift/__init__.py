"""Drift: what a workspace holds compared with what the completed share packs declared."""
