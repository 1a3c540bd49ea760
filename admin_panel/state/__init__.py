"""One State class per page/feature. Handlers resolve the session on the server and call a service."""
