"""The routes this pharmacy compounds, as people say them. The formulary lists their codes (FormularyState.routes);
the order form, the order's pages, the label and the master formulation record show these names. Pure: no Django."""

from __future__ import annotations

# The routes this pharmacy compounds (non-sterile), as people say them. Sterile routes are never offered.
ROUTE_NAMES: dict[str, str] = {
    "topical": "Topical (skin)",
    "scalp": "Scalp",
    "nail": "Nail",
    "mucosal_nonsterile": "Mucosal, non-sterile (lips, inside of the nose)",
}
DEFAULT_ROUTE = "topical"


def route_name(code: str) -> str:
    return ROUTE_NAMES.get(code) or (code or DEFAULT_ROUTE).replace("_", " ").capitalize()


def route_choices(non_sterile) -> list[tuple[str, str]]:
    """(code, name) of the routes offered, the default first, then in the order above."""
    order = list(ROUTE_NAMES)
    codes = sorted(non_sterile, key=lambda code: (code != DEFAULT_ROUTE, order.index(code) if code in order else len(order), code))
    return [(code, route_name(code)) for code in codes]
