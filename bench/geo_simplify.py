"""Simplify the 34 province outlines into the small file the wall's map ships with.

Run once by a developer, never at run time::

    python -m bench.geo_simplify /work/shared/data/vn/provinces_2025.geojson

It reads the GeoJSON (WGS84, 3.9 MB), simplifies every ring with Douglas-Peucker
(tolerance in degrees, ~0.004° ≈ 400 m, plenty for a wall map of one province), drops
islands smaller than `--min-area` square degrees, rounds to 4 decimals (~10 m) and
writes `web/geo/provinces.json` (outside `web/static`: the hub serves each user only their own province, `GET /api/v1/map/outline`):

    {"source": ..., "licence": ..., "provinces": [{"name": "Hồ Chí Minh", "key": "ho chi minh",
      "bbox": [lon0, lat0, lon1, lat1], "view": [...], "rings": [[[lon, lat], ...], ...]}, ...]}

`view` is the box of the mainland and the big islands (rings of at least 2% of the
largest), what the wall frames by default: Hoàng Sa (Đà Nẵng) and Trường Sa (Khánh Hòa)
are drawn but would otherwise shrink the mainland to a sliver. `key` is the name without diacritics, lower case, without "TP"/"Thành phố"/"Tỉnh": the hub
matches it against the name of the user's province unit (`ioc.api.pages.province_key`, shared with this script).
Douglas-Peucker is twenty lines; no geometry library is worth a dependency of the hub
for a script that runs once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ioc.api.pages import province_key

OUT = Path(__file__).resolve().parent.parent / "web" / "geo" / "provinces.json"
# The source names the big cities in short; the file keeps the full names.
NAMES = {"TP HCM": "Hồ Chí Minh"}


def _dp(points: list[list[float]], tol: float) -> list[list[float]]:
    """Douglas-Peucker, iterative (rings have up to 12,000 points)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        ax, ay = points[a]
        bx, by = points[b]
        dx, dy = bx - ax, by - ay
        norm = (dx * dx + dy * dy) ** 0.5
        best, index = -1.0, -1
        for i in range(a + 1, b):
            px, py = points[i]
            d = abs(dy * (px - ax) - dx * (py - ay)) / norm if norm else ((px - ax) ** 2 + (py - ay) ** 2) ** 0.5
            if d > best:
                best, index = d, i
        if best > tol and index > 0:
            keep[index] = True
            stack += [(a, index), (index, b)]
    return [p for p, k in zip(points, keep) if k]


def _area(ring: list[list[float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))) / 2


def _bbox(rings: list[list[list[float]]]) -> list[float]:
    xs = [x for r in rings for x, _ in r]
    ys = [y for r in rings for _, y in r]
    return [min(xs), min(ys), max(xs), max(ys)]


def simplify(source: dict, tol: float, min_area: float) -> tuple[list[dict], int, int]:
    provinces, before, after = [], 0, 0
    for feature in source["features"]:
        geom = feature["geometry"]
        polygons = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        name = feature["properties"]["ten_tinh"]
        name = NAMES.get(name, name.removeprefix("TP ").strip())
        rings = []
        for polygon in polygons:
            outer = polygon[0]  # holes do not show at wall scale
            before += len(outer)
            if _area(outer) < min_area:
                continue
            ring = [[round(x, 4), round(y, 4)] for x, y in _dp([p[:2] for p in outer], tol)]
            if len(ring) >= 4:
                rings.append(ring)
                after += len(ring)
        provinces.append({"name": name, "key": province_key(name), "bbox": _bbox(rings),
                          "view": _bbox([r for r in rings if _area(r) >= 0.02 * max(map(_area, rings))]),
                          "rings": rings})
    provinces.sort(key=lambda p: p["key"])
    return provinces, before, after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--tolerance", type=float, default=0.004, help="degrees")
    parser.add_argument("--min-area", type=float, default=0.0004, help="square degrees (~4 km²)")
    args = parser.parse_args(argv)
    source = json.loads(args.source.read_text(encoding="utf-8"))
    provinces, before, after = simplify(source, args.tolerance, args.min_area)
    doc = {
        "source": "provinces_2025.geojson (34 provinces after the 1 July 2025 merger), simplified by bench/geo_simplify.py",
        "licence": "MIT, Copyright (c) 2025 Talia Cao; see NOTICE",
        "tolerance_deg": args.tolerance,
        "provinces": provinces,
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text, encoding="utf-8")
    print(f"{len(provinces)} provinces, {before} → {after} outer-ring points, "
          f"{args.source.stat().st_size / 1e6:.1f} MB → {len(text.encode()) / 1e3:.0f} kB ({args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
