"""``python -m codelab_chat``."""

from codelab_chat.cli import main

raise SystemExit(main())
