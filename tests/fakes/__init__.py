"""Fake outside services (OpenRouter, Tavily, Brave, web pages) served on 127.0.0.1 for tests."""
