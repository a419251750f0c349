"""The AI participant's outside-facing half: provider client, model catalogue, web tools."""
