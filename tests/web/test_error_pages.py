"""Who gets an HTML error page and who gets the JSON error: decided by the path (programs'
paths always JSON) and by what the client asked for (``Accept``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from omnicx.web.app import create_app

BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
}


def test_pages_answer_people_in_html_and_programs_in_json(client):
    page = client.get("/no/such/page", headers=BROWSER)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and "There is no page at /no/such/page" in page.text
    bad = client.get("/customers/not-a-number", headers=BROWSER)
    assert bad.status_code == 422 and "This address is not valid" in bad.text
    assert "customer_id" in bad.text
    for path, headers in [
        ("/no/such/page", {}),
        ("/no/such/page", {"Accept": "application/json"}),
        ("/api/v1/no-such-thing", BROWSER),
        ("/v1/no-such-thing", BROWSER),
        ("/no/such/page", BROWSER | {"HX-Request": "true"}),  # an htmx swap is no page
    ]:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found", (path, headers)


def test_an_unexpected_error_is_a_page_too_and_says_nothing_of_its_cause(settings):
    app = create_app(settings, background=False)

    @app.get("/explode")
    def explode() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/explode", headers=BROWSER)
        assert page.status_code == 500 and "Something went wrong" in page.text
        assert "secret internals" not in page.text
        program = client.get("/explode")
        assert program.json()["error"]["code"] == "internal_error"
