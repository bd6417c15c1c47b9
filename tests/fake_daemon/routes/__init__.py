"""The route groups.  Each module serves one group and has ``register(router, daemon)``.

* ``health``: ``/health/check``;
* ``management``: uploads, installs, tasks, installations, manifests, readmes;
* ``tools``: tool provider discovery and the tool dispatch routes;
* ``assets``: ``/asset/:id`` and ``/extract-asset/``.

A new group is a new module here, added to :data:`GROUPS`; a new dispatch
route is a :class:`~fake_daemon.dispatch.DispatchRoute` its module registers
with :func:`~fake_daemon.dispatch.register_dispatch_route`.
"""

from ..server import _Router
from . import assets, health, management, models, tools, tools_extras
from . import agents, datasources, endpoints, triggers

GROUPS = (health, management, tools, assets, tools_extras, models, endpoints, agents, datasources,
          triggers)


def build_router(daemon):
    """A router with every group's routes, bound to ``daemon``."""
    router = _Router()
    for group in GROUPS:
        group.register(router, daemon)
    return router
