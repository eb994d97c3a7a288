"""The agent loop: runs of a session, from an IDE frame to its stop point (see README.md here)."""
