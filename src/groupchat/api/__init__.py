"""HTTP routes: parse, authorize through actions, return wire models."""
