"""``python -m probe`` runs the command line."""

from probe.cli.main import main

raise SystemExit(main())
