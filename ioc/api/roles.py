"""Which roles may do what; one table so the role x endpoint matrix is easy to audit.

    see events, stats, cameras, KPIs, live stream   every role
    view evidence, acknowledge events              admin, operator, police
    post KPI samples                               admin, operator
    manage users, units, edges                     admin
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ioc.api.deps import require_roles
from ioc.services.users import User

EVIDENCE_ROLES = ("admin", "operator", "police")
ACK_ROLES = ("admin", "operator", "police")
METRICS_WRITE_ROLES = ("admin", "operator")
ADMIN_ROLES = ("admin",)

EvidenceViewer = Annotated[User, Depends(require_roles(*EVIDENCE_ROLES))]
Acknowledger = Annotated[User, Depends(require_roles(*ACK_ROLES))]
MetricsWriter = Annotated[User, Depends(require_roles(*METRICS_WRITE_ROLES))]
Admin = Annotated[User, Depends(require_roles(*ADMIN_ROLES))]
