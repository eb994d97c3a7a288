"""The IDE WebSocket: connection handling and the two dialects."""
