"""The size and time bounds the tools keep, so one call cannot flood the model's context or hang the client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolLimits:
    """Bounds for the IDE tools; the defaults suit a chat with a model of a 32k+ context."""

    max_read_bytes: int = 512 * 1024
    # The gateway closes the socket (1009) on an inbound frame over 1 MiB by default; stay well below it.
    max_result_bytes: int = 900 * 1024
    max_output_bytes: int = 64 * 1024
    max_list_items: int = 5_000
    max_search_file_bytes: int = 1024 * 1024
    max_search_scan: int = 10_000
    max_line_chars: int = 500
    default_timeout: int = 60
    max_timeout: int = 600
    # write_file's ``backup`` (the IDE keeps ``<name>.bak``) only with --backups: no stray copies in a workspace
    # that version control already protects.
    keep_backups: bool = False
