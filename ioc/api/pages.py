"""HTML pages of the hub: login, logout, the video wall and the operator console.

The pages are thin: they check who may open them, pick the language and hand the
browser a small JSON document (`page_json`) with what its script needs. Everything
the scripts show comes from the JSON API, which enforces roles and unit scope on its
own, so a page never holds data the API would not also give that user.

Example::

    app.include_router(ioc.api.pages.router)
    # GET /wall/1        -> the wall, for admin/operator/official/viewer/police
    # GET /console       -> the operator console, for admin/operator
    # GET /login?next=/console
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import web
from ioc.api.deps import SESSION_COOKIE, CurrentUser, Db, PageUser, get_settings, token_of, user_from_token
from ioc.exceptions import NotAuthenticated
from ioc.services import audit, users
from ioc.api.templating import templates
from ioc.services.violations import REVIEW_ROLES
from ioc.services.users import User
from web.i18n import COOKIE_NAME, LANGS, Lang, catalog_json, keys, normalize_lang, pick_lang, script_json, t

router = APIRouter(tags=["pages"])

WALL_ROLES: Final[frozenset[str]] = frozenset({"admin", "operator", "official", "viewer", "police"})
CONSOLE_ROLES: Final[frozenset[str]] = frozenset({"admin", "operator"})

# Vietnam has one zone and no daylight saving; the wall's "today" and clock use it.
TIMEZONE: Final[str] = "Asia/Ho_Chi_Minh"
LANG_COOKIE_MAX_AGE: Final[int] = 365 * 86400

# Filters a wall display may carry in its URL (/wall/2?types=traffic.&unit=26734).
_FILTER_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "types": re.compile(r"^[a-z0-9_.]{1,100}(,[a-z0-9_.]{1,100}){0,19}$"),
    "cameras": re.compile(r"^[A-Za-z0-9_.:-]{1,64}(,[A-Za-z0-9_.:-]{1,64}){0,49}$"),
    "unit": re.compile(r"^[A-Za-z0-9_.:-]{1,64}$"),
}

_KNOWN_KEYS: Final[frozenset[str]] = frozenset(keys())
# The catalogue is fixed at import, so each language's JSON is built once.
_CATALOG_JSON: Final[dict[str, str]] = {lang: catalog_json(lang) for lang in LANGS}


def safe_next(value: str | None, default: str = "/wall/1") -> str:
    """A local path to go to after login; anything that could leave the site becomes `default`.

    >>> safe_next("/console?x=1")
    '/console?x=1'
    >>> safe_next("//evil.example/")
    '/wall/1'
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(ch) < 0x20 for ch in value):
        return default
    return value


def wall_filters(params: dict[str, str]) -> dict[str, str]:
    """The display filters in a wall URL that are well-formed; others are ignored."""
    out: dict[str, str] = {}
    for name, pattern in _FILTER_PATTERNS.items():
        value = params.get(name, "").strip()
        if value and pattern.fullmatch(value):
            out[name] = value
    return out


def type_options() -> list[str]:
    """Event type prefixes offered in the console's type filter (families, then known types)."""
    codes = [key.removeprefix("type.") for key in keys() if key.startswith("type.")]
    families = sorted(code + "." for code in codes if "." not in code)
    return families + sorted(code for code in codes if "." in code)


def _lang_urls(request: Request) -> dict[str, str]:
    # Same page, same query, other language; relative so it never names a host.
    urls = {}
    for lang in LANGS:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
        urls[lang] = request.url.path + "?" + urlencode(query)
    return urls


def _security_headers(response: Response) -> Response:
    # The pages load only their own scripts and styles; data blocks are JSON, never
    # executed, so a strict policy costs nothing and stops injected script cold.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def render(
    request: Request,
    template: str,
    *,
    lang: Lang,
    page: dict[str, Any],
    user: User | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the shared context every page expects.

    `page` becomes the JSON document the page's script reads (`#ioc-page`); it must
    hold only what that user may see.
    """
    page = {"lang": lang, "timezone": TIMEZONE, **page}
    if user is not None:
        page["user"] = {"username": user.username, "role": user.role, "unit": user.unit}

    def translate(key: str, **params: Any) -> str:
        return t(key, lang, **params)

    def type_label(code: str) -> str:
        return t("type." + code.rstrip("."), lang) if "type." + code.rstrip(".") in _KNOWN_KEYS else code

    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "_": translate,
            "type_label": type_label,
            "user": user,
            "i18n_json": _CATALOG_JSON[lang],
            "page_json": script_json(page),
            "lang_urls": _lang_urls(request),
            **context,
        },
        status_code=status_code,
    )
    query_lang = normalize_lang(request.query_params.get("lang"))
    if query_lang and query_lang != normalize_lang(request.cookies.get(COOKIE_NAME)):
        response.set_cookie(COOKIE_NAME, query_lang, max_age=LANG_COOKIE_MAX_AGE, samesite="lax", httponly=True)
    return _security_headers(response)


def request_lang(request: Request) -> Lang:
    """The language of this request: `?lang=`, then the `ioc_lang` cookie, then Vietnamese."""
    return pick_lang(request.query_params.get("lang"), request.cookies.get(COOKIE_NAME))


def _forbidden(request: Request, user: User, lang: Lang) -> HTMLResponse:
    return render(
        request, "error.html", lang=lang, user=user, page={}, status_code=403, message=t("error.forbidden", lang)
    )


@router.get("/login", response_class=HTMLResponse, summary="Login page")
async def login_page(
    request: Request, next_page: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> HTMLResponse:
    """The login form; it posts to /api/v1/auth/login and then opens `next`."""
    target = safe_next(next_page)
    lang = request_lang(request)
    if request.query_params.get("lang") is None and request.cookies.get(COOKIE_NAME) is None:
        # Sent here from /wall/1?lang=en: speak the language of the page asked for.
        lang = pick_lang(parse_qs(urlsplit(target).query).get("lang", [None])[0], None)
    return render(request, "login.html", lang=lang, page={"next": target})


@router.get("/logout", summary="Log out")
async def logout(request: Request) -> RedirectResponse:
    """Revoke the user's tokens (every session, as the API's logout does), drop the session
    cookie and go back to the login page. The database is reached only when there is a token."""
    token = token_of(request)
    if token:
        async with request.app.state.pool.connection() as db:
            try:
                user = await user_from_token(db, get_settings(request), token)
            except NotAuthenticated:
                user = None  # expired or already revoked: nothing left to revoke
            if user is not None:
                await users.revoke_tokens(db, user.id)
                await audit.record(db, user.username, "auth.logout", f"user:{user.username}", {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/wall/{display}", response_class=HTMLResponse, summary="Video wall display")
async def wall_page(
    request: Request, user: PageUser, display: Annotated[int, Path(ge=1, le=999)]
) -> HTMLResponse:
    """One display of the video wall: live feed, counters, cameras, KPIs, clock."""
    lang = request_lang(request)
    if user.role not in WALL_ROLES:
        return _forbidden(request, user, lang)
    page = {"display": display, "filters": wall_filters(dict(request.query_params))}
    return render(request, "wall.html", lang=lang, user=user, page=page, display=display,
                  nav_links=nav_links(user.role))


@router.get("/console", response_class=HTMLResponse, summary="Operator console")
async def console_page(request: Request, user: PageUser) -> HTMLResponse:
    """The operator's console: search, filter and acknowledge events."""
    lang = request_lang(request)
    if user.role not in CONSOLE_ROLES:
        return _forbidden(request, user, lang)
    return render(request, "console.html", lang=lang, user=user, page={}, type_options=type_options(),
                  nav_links=nav_links(user.role))


def nav_links(role: str) -> list[dict[str, str]]:
    """The top bar's links for a role: only pages that role may open."""
    links = [{"key": "wall", "href": "/wall/1", "label": "nav.wall"}]
    if role in CONSOLE_ROLES:
        links.append({"key": "console", "href": "/console", "label": "nav.console"})
    if role in REVIEW_ROLES:
        links.append({"key": "review", "href": "/review", "label": "nav.review"})
    return links


# ---------------------------------------------------------------- map outline

OUTLINES_FILE: Final = web.TEMPLATES_DIR.parent / "geo" / "provinces.json"


def province_key(name: str) -> str:
    """A province name without diacritics, case or "Tỉnh"/"Thành phố"/"TP" prefix, so
    a unit named "Thành phố Hồ Chí Minh" finds the outline "Hồ Chí Minh".

    >>> province_key("Thành phố Hồ Chí Minh")
    'ho chi minh'
    >>> province_key("Khánh Hòa") == province_key("Khánh Hoà")
    True
    """
    text = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn").lower().strip()
    for prefix in ("thanh pho ", "tinh ", "tp. ", "tp "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _outlines() -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(OUTLINES_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {p["key"]: p for p in doc.get("provinces", [])}


@router.get("/api/v1/map/outline", tags=["map"], summary="Outline of your province(s) for the wall's map")
async def map_outline(user: CurrentUser, db: Db) -> dict[str, Any]:
    """The simplified outline (lon/lat rings) of each province the user's unit lies in
    or holds: a commune user gets their own province only, a national user all of those
    below them. Provinces are the units of level `province` (or a root unit, whatever its
    level), matched to the shipped outlines by name (`province_key`)."""
    cur = await db.execute(
        "SELECT u.code, u.name FROM units u, units me WHERE me.code = %(unit)s"
        " AND (u.level = 'province' OR u.parent_code IS NULL)"
        " AND (u.code = ANY(me.ancestors) OR %(unit)s = ANY(u.ancestors)) ORDER BY u.code",
        {"unit": user.unit},
    )
    outlines = _outlines()
    provinces = []
    for row in await cur.fetchall():
        outline = outlines.get(province_key(row["name"]))
        if outline is not None and all(p["unit"] != row["code"] for p in provinces):
            provinces.append({"unit": row["code"], "name": row["name"], "bbox": outline["bbox"],
                              "view": outline.get("view", outline["bbox"]), "rings": outline["rings"]})
    def union(name: str) -> list[float] | None:
        if not provinces:
            return None
        return [min(p[name][0] for p in provinces), min(p[name][1] for p in provinces),
                max(p[name][2] for p in provinces), max(p[name][3] for p in provinces)]

    return {"provinces": provinces, "bbox": union("bbox"), "view": union("view"),
            "attribution": "provinces_2025.geojson, MIT, Copyright (c) 2025 Talia Cao"}
