"""The frozen app's entry point: the same as ``python -m wrencos_studio``."""

from wrencos_studio.cli import main

raise SystemExit(main())
