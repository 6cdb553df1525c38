from __future__ import annotations

from flask.testing import FlaskClient

from learnloop.bootstrap import Runtime


def test_healthz_answers(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"


def test_readyz_reports_an_unreachable_database(runtime: Runtime) -> None:
    from learnloop.storage.engine import make_engine
    from learnloop.wiring import create_app

    runtime.engine = make_engine("sqlite:////nonexistent-dir/x.db")
    response = create_app(runtime).test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "unavailable"


def test_unknown_routes_get_a_json_404(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404
