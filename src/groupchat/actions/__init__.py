"""Rules that span stores: authorize, write in one transaction, publish events after commit."""
