"""The Jinja2 environment of the hub's pages (templates live in `web/templates`).

Example::

    from ioc.api.templating import templates
    return templates.TemplateResponse(request, "wall.html", {"display": 1})
"""

from __future__ import annotations

from fastapi.templating import Jinja2Templates

import web

templates = Jinja2Templates(directory=str(web.TEMPLATES_DIR))
