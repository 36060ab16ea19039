"""``python -m wrencos_studio``: the same entry point as the ``wrencos-studio`` script."""

from wrencos_studio.cli import main

raise SystemExit(main())
