"""The real-time hub: protocol, state, auth, rate limits, WebSocket + HTTP server. No Qt."""
