"""``python -m codelab_acp``."""

from codelab_acp.cli import main

raise SystemExit(main())
