"""The route table: typed parameters, 404/405, route names."""

from __future__ import annotations

import pytest

from pnotify.http import MethodNotAllowed, NotFound, Request
from pnotify.responses import Response
from pnotify.routing import Route, Router


async def _handler(request: Request) -> Response:
    return Response.no_content()


ROUTER = Router(
    [
        Route("GET", "/api/notifications/", _handler, name="notifications"),
        Route("POST", "/api/notifications/", _handler),
        Route("GET", "/api/notifications/{id:uuid}", _handler, name="notification"),
        Route("DELETE", "/api/notifications/{id:uuid}", _handler),
        Route("GET", "/api/notifications/{id:uuid}/qr", _handler, name="qr"),
        # Listed after the typed parameter on purpose: the order of the table must not matter.
        Route("GET", "/api/notifications/stream", _handler, name="stream"),
        Route("GET", "/static/{name}", _handler, name="static"),
        Route("GET", "/api/me", _handler),
    ]
)
ID = "01a2150d-5823-7e35-80d1-2bf01ce8d93e"


def test_matches_method_and_captures_params() -> None:
    match = ROUTER.resolve("DELETE", f"/api/notifications/{ID.upper()}")
    assert match.route.method == "DELETE"
    assert match.params == {"id": ID}  # normalised to lower case


def test_collection_without_trailing_slash_is_served() -> None:
    assert ROUTER.resolve("POST", "/api/notifications").route.pattern == "/api/notifications/"


def test_head_is_served_by_get() -> None:
    assert ROUTER.resolve("HEAD", "/api/me").route.method == "GET"


def test_wrong_method_is_405_with_allow() -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTER.resolve("PUT", f"/api/notifications/{ID}")
    assert caught.value.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_unknown_path_is_404() -> None:
    with pytest.raises(NotFound):
        ROUTER.resolve("GET", "/api/nothing")


def test_param_does_not_cross_slashes() -> None:
    with pytest.raises(NotFound):
        ROUTER.resolve("GET", f"/api/notifications/{ID}/b")


@pytest.mark.parametrize("path", ["/api/notifications/not-a-uuid", "/api/notifications/1"])
def test_a_non_uuid_id_is_a_404_from_the_router(path: str) -> None:
    with pytest.raises(NotFound):
        ROUTER.resolve("GET", path)


def test_fixed_paths_win_whatever_the_order() -> None:
    assert ROUTER.resolve("GET", "/api/notifications/stream").route.name == "stream"
    with pytest.raises(MethodNotAllowed):
        ROUTER.resolve("DELETE", "/api/notifications/stream")


def test_url_for_builds_from_route_names() -> None:
    assert ROUTER.url_for("notification", id=ID) == f"/api/notifications/{ID}"
    assert ROUTER.url_for("qr", id=ID) == f"/api/notifications/{ID}/qr"
    assert ROUTER.url_for("notifications") == "/api/notifications/"
    assert ROUTER.url_for("static", name="common.js") == "/static/common.js"


@pytest.mark.parametrize("params", [{"id": "x"}, {"id": "a/b"}, {}])
def test_url_for_refuses_values_that_do_not_fit(params: dict[str, str]) -> None:
    with pytest.raises((ValueError, KeyError)):
        ROUTER.url_for("notification", **params)


def test_template_drops_parameter_types() -> None:
    match = ROUTER.resolve("GET", f"/api/notifications/{ID}")
    assert match.route.template == "/api/notifications/{id}"


def test_table_mistakes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown parameter type"):
        Route("GET", "/x/{id:float}", _handler)
    with pytest.raises(ValueError, match="routed twice"):
        Router([Route("GET", "/a", _handler), Route("GET", "/a", _handler)])
    with pytest.raises(ValueError, match="used twice"):
        Router([Route("GET", "/a", _handler, name="n"), Route("GET", "/b", _handler, name="n")])
