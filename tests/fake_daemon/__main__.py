"""Run the fake daemon standalone: ``python -m fake_daemon`` (from tests/) or ``python tests/fake_daemon``.

See :mod:`fake_daemon.cli` for the options.
"""

import os
import sys

if not __package__:
    # Run as a directory: sys.path[0] is this package's own folder; import the
    # package from its parent instead, so that its modules keep their names.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.dirname(_here))
    from fake_daemon.cli import main
else:
    from .cli import main

if __name__ == "__main__":
    sys.exit(main())
