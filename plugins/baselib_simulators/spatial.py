"""The natural resources department's GeoJSON file drops (自然资源和空间地理), simulated.

:func:`write_drop` writes, under a landing root:

* ``natural_resources/admin_division/boundaries_<province>.geojson``: one Polygon per real
  in-use county (GB/T 2260 code and name, 级别 县级, 上级区划代码) of each province. The
  province's approximate real extent is tiled by a grid of rectangles, one per county, so
  neighbours share edges exactly (lon/lat in GeoJSON order, 6 decimals).
* ``natural_resources/place_name/places_<province>.geojson``: Point features (地名) strictly
  inside their county's rectangle, some with rare characters only UTF-8/GB18030 can hold.

The files exercise the reader: per position in ``provinces`` the boundaries are UTF-8 with an
OGC URN ``crs``, UTF-8 with a BOM and ``crs`` ``EPSG:4490`` (properties named by their Chinese
labels, 信息项名称), then GB18030; the place files GB18030 (undeclared), UTF-8 (labels), then
UTF-8 with a BOM.

Known defects (:data:`DIVISION_DEFECTS`, :data:`PLACE_DEFECTS`) are injected once per province,
each on its own feature, and returned in the :class:`SpatialDrop` manifest by key, together with
the one losslessly repairable county per province and the files the engine must reject outright
(:data:`REJECTED`). Everything derives from the seed: same arguments, same bytes. Files are
dated as delivered (:mod:`baselib_simulators.delivery`), so a run takes them at once.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from baselib.identifiers import divisions
from baselib_simulators.delivery import deliver

ADMIN_LANDING = "natural_resources/admin_division"
PLACE_LANDING = "natural_resources/place_name"

# min_lon, min_lat, max_lon, max_lat: approximate real extents
EXTENTS = {
    "110000": (115.42, 39.44, 117.50, 41.06),   # 北京
    "320000": (116.36, 30.76, 121.96, 35.13),   # 江苏
    "360000": (113.57, 24.48, 118.48, 30.08),   # 江西
    "430000": (108.78, 24.63, 114.25, 30.13),   # 湖南
    "440000": (109.66, 20.22, 117.31, 25.52),   # 广东
}
LONDON = (-0.5, 51.0, 0.5, 52.0)

# defects on one feature each (per province); "missing_crs" rows sit in a file without a crs member
DIVISION_DEFECTS = ("self_intersection", "swapped_axes", "unknown_code", "name_mismatch", "outside_china",
                    "missing_crs")
PLACE_DEFECTS = ("outside_china", "swapped_axes", "not_in_county", "unknown_county", "missing_crs")
REJECTED = ("truncated", "encoding")

ADMIN_LABELS = {"division_code": "行政区划代码", "division_name": "行政区划名称", "level": "级别",
                "parent_code": "上级区划代码"}
PLACE_LABELS = {"place_code": "地名代码", "place_name": "标准名称", "place_type": "地名类别",
                "county_code": "所在县级行政区代码"}
CRS_URN = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
CRS_SHORT = {"type": "name", "properties": {"name": "EPSG:4490"}}
# per position in ``provinces`` (the last repeats): (encoding, crs member, properties by label?)
BOUNDARY_STYLES = [("utf-8", CRS_URN, False), ("utf-8-sig", CRS_SHORT, True), ("gb18030", CRS_URN, False)]
PLACE_ENCODINGS = ["gb18030", "utf-8", "utf-8-sig"]

PLACE_TYPES = ["居民点", "山", "河流", "湖泊", "桥梁"]
_SUFFIXES = {"居民点": ["村", "庄", "屯", "坊", "铺"], "山": ["山", "岭", "峰", "尖"], "河流": ["河", "水", "江", "溪"],
             "湖泊": ["湖", "塘", "泊"], "桥梁": ["桥", "大桥"]}
_WORDS = ["青云", "白石", "龙潭", "桃源", "金竹", "杨梅", "凤凰", "梅岭", "石门", "清水", "黄泥", "松林", "枫树", "上坊",
          "下洲", "新塘", "大坪", "茶园", "竹山", "老屋", "樟树", "荷花", "双溪", "马鞍", "狮子", "观音", "万家", "高岭"]
RARE_CHARS = ["䶮", "𠀾", "㙍"]   # CJK Ext A / Ext B: not in GBK
RARE_PER_FILE = 3
MARGIN = 0.05                    # points keep this share of the cell size away from its edges
BENCH_VERTICES_PER_EDGE = 10     # benchmark polygons: 4 x 10 = 40 vertices


@dataclass
class SpatialDrop:
    admin_dir: Path
    place_dir: Path
    division_defects: dict[str, list[str]] = field(default_factory=dict)  # kind -> division codes
    place_defects: dict[str, list[str]] = field(default_factory=dict)     # kind -> place codes
    repaired: list[str] = field(default_factory=list)                     # codes loaded as repaired
    divisions_clean: int = 0                                              # features that should load
    places_clean: int = 0
    rejected_files: dict[str, str] = field(default_factory=dict)          # file name -> kind
    rare_names: dict[str, str] = field(default_factory=dict)              # place code -> name
    county_boxes: dict[str, tuple] = field(default_factory=dict)          # code -> (min_lon, min_lat, max_lon, max_lat)


# --- geometry helpers ---------------------------------------------------------------------------
def _grid(extent: tuple, n: int) -> list[tuple]:
    """n rectangles tiling ``extent`` row by row from the north-west; shared edges are identical."""
    min_lon, min_lat, max_lon, max_lat = extent
    width, height = max_lon - min_lon, max_lat - min_lat
    cols = max(1, round(math.sqrt(n * width / height)))
    rows = math.ceil(n / cols)
    xs = [round(min_lon + width * i / cols, 6) for i in range(cols + 1)]
    ys = [round(max_lat - height * j / rows, 6) for j in range(rows + 1)]
    return [(xs[k % cols], ys[k // cols + 1], xs[k % cols + 1], ys[k // cols]) for k in range(n)]


def _ring(box: tuple, per_edge: int = 1) -> list[list[float]]:
    """Closed counter-clockwise ring of a box, each edge split into ``per_edge`` segments."""
    x0, y0, x1, y1 = box
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    ring = []
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
        ring += [[round(ax + (bx - ax) * i / per_edge, 6), round(ay + (by - ay) * i / per_edge, 6)]
                 for i in range(per_edge)]
    return ring + [ring[0]]


def _polygon(box: tuple, per_edge: int = 1) -> dict:
    return {"type": "Polygon", "coordinates": [_ring(box, per_edge)]}


def _bowtie(box: tuple) -> dict:
    x0, y0, x1, y1 = box
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}


def _halves(box: tuple) -> dict:
    """The box as a MultiPolygon of its west and east halves: they share an edge, so it is
    invalid, and dissolving them repairs it without changing area or vertices."""
    x0, y0, x1, y1 = box
    xm = round((x0 + x1) / 2, 6)
    return {"type": "MultiPolygon",
            "coordinates": [[_ring((x0, y0, xm, y1))], [_ring((xm, y0, x1, y1))]]}


def _swap(geometry: dict) -> dict:
    """The same geometry with every position written (lat, lon)."""
    def flip(c):
        return [c[1], c[0]] if isinstance(c[0], (int, float)) else [flip(x) for x in c]
    return {"type": geometry["type"], "coordinates": flip(geometry["coordinates"])}


def _point_in(box: tuple, rng: random.Random) -> list[float]:
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
    return [round(rng.uniform(x0 + mx, x1 - mx), 6), round(rng.uniform(y0 + my, y1 - my), 6)]


# --- writing ----------------------------------------------------------------------------------
def _properties(values: dict, labels: dict | None) -> dict:
    return {labels[k]: v for k, v in values.items()} if labels else dict(values)


def _feature(properties: dict, geometry: dict) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _collection_text(name: str, features: list[dict], crs: dict | None) -> str:
    """A FeatureCollection, one feature per line."""
    head = {"type": "FeatureCollection", "name": name}
    if crs is not None:
        head["crs"] = crs
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def _write(path: Path, name: str, features: list[dict], crs: dict | None, encoding: str) -> None:
    deliver(path, _collection_text(name, features, crs).encode(encoding))


# --- reference --------------------------------------------------------------------------------
def _counties(ref: divisions.DivisionCodes, province: str) -> list[divisions.Division]:
    if province not in EXTENTS:
        raise ValueError(f"no extent for province {province!r}; known: {sorted(EXTENTS)}")
    seen, out = set(), []
    for row in ref.counties(in_use_only=True):
        if row.code[:2] == province[:2] and row.code not in seen:
            seen.add(row.code)
            out.append(row)
    return out


def _parent(ref: divisions.DivisionCodes, code: str) -> str:
    """The county's prefecture when the reference has it in use, else its province (直辖)."""
    prefecture = code[:4] + "00"
    if any(r.in_use and r.level == "地级" for r in ref.by_code.get(prefecture, [])):
        return prefecture
    return code[:2] + "0000"


def unknown_code(ref: divisions.DivisionCodes, province: str) -> str:
    """A code of the province's number range that the reference has never held (from XX9999 down)."""
    for n in range(9999, 0, -1):
        code = f"{province[:2]}{n:04d}"
        if code not in ref.by_code:
            return code
    raise ValueError(f"no unused code in province {province}")


def _division_values(ref, row, name: str | None = None, code: str | None = None) -> dict:
    return {"division_code": code or row.code, "division_name": name or row.name, "level": "县级",
            "parent_code": _parent(ref, row.code)}


def _place_name(rng: random.Random, kind: str) -> str:
    word = rng.choice(_WORDS)
    if kind == "居民点" and rng.random() < 0.4:
        word = rng.choice("王李张刘陈杨黄赵吴周徐孙朱胡郭何高林罗") + "家"
    return word + rng.choice(_SUFFIXES[kind])


# --- the drop ---------------------------------------------------------------------------------
def write_drop(root: Path, seed: int = 20261101, provinces=("360000", "430000"), places_per_county: int = 3,
               defects: bool = True, polygons: int | None = None) -> SpatialDrop:
    """Write the boundary and place-name files of ``provinces`` under ``root`` and return the manifest.

    With ``defects`` the per-province defects, the repairable county, the crs-less supplement
    files (first province) and the unreadable files are written too. ``polygons=N`` is the
    benchmark mode: only ``boundaries_bench.geojson`` with N clean 40-vertex polygons (see
    :func:`_write_bench`).
    """
    root = Path(root)
    drop = SpatialDrop(admin_dir=root / ADMIN_LANDING, place_dir=root / PLACE_LANDING)
    drop.admin_dir.mkdir(parents=True, exist_ok=True)
    drop.place_dir.mkdir(parents=True, exist_ok=True)
    ref = divisions.load()
    if polygons is not None:
        return _write_bench(drop, ref, provinces, polygons)
    drop.division_defects = {k: [] for k in DIVISION_DEFECTS} if defects else {}
    drop.place_defects = {k: [] for k in PLACE_DEFECTS} if defects else {}
    for position, province in enumerate(provinces):
        rng = random.Random(f"{seed}/spatial/{province}")
        first = position == 0
        counties = _counties(ref, province)
        boxes = dict(zip((c.code for c in counties), _grid(EXTENTS[province], len(counties))))
        drop.county_boxes.update(boxes)
        encoding, crs, by_label = BOUNDARY_STYLES[min(position, len(BOUNDARY_STYLES) - 1)]
        admin_labels = ADMIN_LABELS if by_label else None
        place_labels = PLACE_LABELS if by_label else None

        kinds = list(DIVISION_DEFECTS[:-1]) + ["repairable"] + (["missing_crs"] * 2 if first else [])
        if not defects:
            kinds = []
        if len(counties) < len(kinds) + 2:
            raise ValueError(f"province {province} has too few counties ({len(counties)}) for the defects")
        special = dict(zip(rng.sample(range(len(counties)), len(kinds)), kinds))

        features, supplement, clean = [], [], []
        for i, row in enumerate(counties):
            box, kind = boxes[row.code], special.get(i)
            values, geometry = _division_values(ref, row), _polygon(box)
            if kind == "self_intersection":
                geometry = _bowtie(box)
            elif kind == "swapped_axes":
                geometry = _swap(geometry)
            elif kind == "outside_china":
                geometry = _polygon(LONDON)
            elif kind == "unknown_code":
                values["division_code"] = unknown_code(ref, province)
            elif kind == "name_mismatch":
                values["division_name"] = rng.choice([c.name for c in counties if c.name != row.name])
            elif kind == "repairable":
                geometry = _halves(box)
                drop.repaired.append(row.code)
            feature = _feature(_properties(values, admin_labels), geometry)
            if kind == "missing_crs":
                supplement.append(feature)
            else:
                features.append(feature)
            if kind in drop.division_defects:
                drop.division_defects[kind].append(values["division_code"])
            if kind is None:
                clean.append(row.code)
        drop.divisions_clean += len(features) - sum(1 for k in kinds if k in DIVISION_DEFECTS[:-1])
        _write(drop.admin_dir / f"boundaries_{province}.geojson", f"boundaries_{province}", features, crs, encoding)
        if supplement:
            _write(drop.admin_dir / f"boundaries_{province}_supplement.geojson", f"boundaries_{province}_supplement",
                   supplement, None, "utf-8")

        _write_places(drop, rng, ref, province, position, clean, boxes, places_per_county, place_labels, crs,
                      defects)
        if defects and first:
            _write_unreadable(drop, ref, counties[:3], boxes)
    return drop


def _write_places(drop: SpatialDrop, rng: random.Random, ref, province: str, position: int, clean: list[str],
                  boxes: dict, per_county: int, labels: dict | None, crs: dict, defects: bool) -> None:
    """``places_<province>.geojson`` (and with defects on the first province ``…_nocrs.geojson``)."""
    places = []
    for code in clean:
        for seq in range(1, per_county + 1):
            kind = rng.choice(PLACE_TYPES)
            places.append({"place_code": f"{code}{seq:04d}", "place_name": _place_name(rng, kind),
                           "place_type": kind, "county_code": code, "_point": _point_in(boxes[code], rng)})
    picked = rng.sample(range(len(places)), min(len(places), RARE_PER_FILE + (4 if defects else 0)))
    for n, i in enumerate(picked[:RARE_PER_FILE]):
        place = places[i]
        place["place_name"] = RARE_CHARS[n % len(RARE_CHARS)] + place["place_name"]
        drop.rare_names[place["place_code"]] = place["place_name"]
    for kind, i in zip(PLACE_DEFECTS[:-1], picked[RARE_PER_FILE:]):
        place = places[i]
        if kind == "outside_china":
            place["_point"] = _point_in(LONDON, rng)
        elif kind == "swapped_axes":
            place["_point"] = place["_point"][::-1]
        elif kind == "not_in_county":
            other = rng.choice([c for c in clean if c != place["county_code"]])
            place["_point"] = _point_in(boxes[other], rng)
        elif kind == "unknown_county":
            place["county_code"] = unknown_code(ref, province)
        drop.place_defects[kind].append(place["place_code"])
    drop.places_clean += len(places) - (len(picked) - RARE_PER_FILE)

    def features(rows):
        return [_feature(_properties({k: v for k, v in r.items() if k != "_point"}, labels),
                         {"type": "Point", "coordinates": r["_point"]}) for r in rows]

    encoding = PLACE_ENCODINGS[min(position, len(PLACE_ENCODINGS) - 1)]
    _write(drop.place_dir / f"places_{province}.geojson", f"places_{province}", features(places), crs, encoding)
    if defects and position == 0:
        extra = []
        for seq, code in enumerate(rng.sample(clean, 2), start=9001):
            kind = rng.choice(PLACE_TYPES)
            extra.append({"place_code": f"{code}{seq:04d}", "place_name": _place_name(rng, kind), "place_type": kind,
                          "county_code": code, "_point": _point_in(boxes[code], rng)})
            drop.place_defects["missing_crs"].append(extra[-1]["place_code"])
        _write(drop.place_dir / f"places_{province}_nocrs.geojson", f"places_{province}_nocrs", features(extra),
               None, "utf-8")


def _write_unreadable(drop: SpatialDrop, ref, rows: list, boxes: dict) -> None:
    """``boundaries_truncated.geojson`` (valid text cut in the middle) and
    ``boundaries_latin1.geojson`` (bytes no Chinese encoding decodes)."""
    text = _collection_text("boundaries_truncated",
                            [_feature(_division_values(ref, r), _polygon(boxes[r.code])) for r in rows], CRS_URN)
    deliver(drop.admin_dir / "boundaries_truncated.geojson", text[: len(text) // 2].encode("utf-8"))
    drop.rejected_files["boundaries_truncated.geojson"] = "truncated"
    row = rows[0]
    text = _collection_text("boundaries_latin1", [_feature(_division_values(ref, row, name="@@"),
                                                           _polygon(boxes[row.code]))], CRS_URN)
    before, after = text.split("@@")
    latin1 = b"Caf\xe9 \x80\xff"
    deliver(drop.admin_dir / "boundaries_latin1.geojson",
            before.encode("ascii", "backslashreplace") + latin1 + after.encode("ascii", "backslashreplace"))
    drop.rejected_files["boundaries_latin1.geojson"] = "encoding"


def _write_bench(drop: SpatialDrop, ref, provinces, n: int) -> SpatialDrop:
    """``boundaries_bench.geojson``: n clean polygons of 40 vertices tiling the provinces' extents,
    keyed by real county codes: the in-use ones of ``provinces`` first, then the rest of the
    reference's in-use counties, then abolished counties (historical boundaries)."""
    own = [c for p in provinces for c in _counties(ref, p)]
    own_codes = {c.code for c in own}
    rest, seen = [], set(own_codes)
    for in_use_only in (True, False):  # in-use counties, then abolished ones (historical boundaries)
        for row in ref.counties(in_use_only=in_use_only):
            if row.code not in seen:
                seen.add(row.code)
                rest.append(row)
    rows = own + rest
    if n > len(rows):
        raise ValueError(f"polygons={n} exceeds the {len(rows)} county codes of the reference")
    rows = rows[:n]
    sizes = [n // len(provinces) + (i < n % len(provinces)) for i in range(len(provinces))]
    boxes = [box for p, size in zip(provinces, sizes) for box in _grid(EXTENTS[p], size)]
    features = []
    for row, box in zip(rows, boxes):
        drop.county_boxes[row.code] = box
        features.append(_feature(_division_values(ref, row), _polygon(box, BENCH_VERTICES_PER_EDGE)))
    _write(drop.admin_dir / "boundaries_bench.geojson", "boundaries_bench", features, CRS_URN, "utf-8")
    drop.divisions_clean = n
    return drop
