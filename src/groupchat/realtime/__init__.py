"""Live delivery: the event bus, the socket hub and the /ws endpoint."""
