"""HTTP routes: thin views that call `shared` services and shape their results."""
