"""The infrastructure every process uses: settings and what each process requires, the
database, errors, logging, tracing, metrics and health, API keys and rate limits, and the
vocabularies of status columns."""
