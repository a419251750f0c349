"""GroupChat: a self-hosted group chat server with an AI participant."""
