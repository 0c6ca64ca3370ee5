"""E-mail notifications: templates, the SMTP transport, delivery state, and activation links at rest."""
