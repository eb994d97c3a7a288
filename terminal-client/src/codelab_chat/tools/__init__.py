"""The IDE tools (ide-protocol §4), executed locally against a workspace folder."""
