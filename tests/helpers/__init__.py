"""Test helpers in one place: `serve` processes, WebSocket clients, browsers, Redis, tokens."""
