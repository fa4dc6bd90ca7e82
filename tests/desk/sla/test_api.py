"""``/api/v1/calendars`` and ``/api/v1/sla-policies`` over HTTP: who may read and change,
clear 4xx errors naming the field, the 2027 coverage warning, OpenAPI."""

from __future__ import annotations

from tests.desk.sla.factories import OFFICE
from tests.factories import make_token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CALENDAR = {"name": "上海客服中心", "hours": OFFICE, "region": "CN"}


def test_a_supervisor_defines_calendars_and_policies_an_agent_reads_them(client, db):
    supervisor, agent = auth(make_token(db, "supervisor")), auth(make_token(db, "agent"))
    assert client.post("/api/v1/calendars", json=CALENDAR, headers=agent).status_code == 403
    created = client.post("/api/v1/calendars", json=CALENDAR, headers=supervisor)
    assert created.status_code == 201, created.text
    calendar = created.json()
    assert calendar["timezone"] == "Asia/Shanghai"
    # chinesecalendar 1.11 knows 2026 only; today (December 2026) 2027 is a year away.
    assert calendar["holidays_known_until"] == "2026-12-31"
    assert "2027" in calendar["warning"]
    policy = client.post(
        "/api/v1/sla-policies",
        json={
            "name": "VIP 客户",
            "calendar_id": calendar["id"],
            "team_id": 3,
            "priority": "urgent",
            "first_response_seconds": 900,
            "resolution_seconds": 4 * 3600,
        },
        headers=supervisor,
    )
    assert policy.status_code == 201, policy.text
    assert policy.json()["next_response_seconds"] is None
    assert policy.json()["at_risk_fraction"] == 0.8
    listed = client.get("/api/v1/sla-policies", headers=agent).json()["policies"]
    assert [p["name"] for p in listed] == ["VIP 客户"]
    assert client.get("/api/v1/calendars", headers=agent).json()["calendars"][0]["name"] == (
        "上海客服中心"
    )
    changed = client.patch(
        f"/api/v1/sla-policies/{policy.json()['id']}",
        json={"priority": None, "enabled": False},
        headers=supervisor,
    )
    assert changed.status_code == 200 and changed.json()["priority"] is None
    assert changed.json()["enabled"] is False
    patched = client.patch(
        f"/api/v1/calendars/{calendar['id']}",
        json={"extra_holidays": ["2027-02-08"], "region": None},
        headers=supervisor,
    )
    assert patched.json()["extra_holidays"] == ["2027-02-08"] and patched.json()["warning"] is None
    # A calendar in use is not deleted; the policy first.
    in_use = client.delete(f"/api/v1/calendars/{calendar['id']}", headers=supervisor)
    assert in_use.status_code == 409
    assert (
        client.delete(f"/api/v1/sla-policies/{policy.json()['id']}", headers=supervisor).status_code
        == 204
    )
    assert (
        client.delete(f"/api/v1/calendars/{calendar['id']}", headers=supervisor).status_code == 204
    )
    assert client.get(f"/api/v1/calendars/{calendar['id']}", headers=agent).status_code == 404


def test_bad_definitions_get_a_clear_error_naming_the_field(client, db):
    admin = auth(make_token(db, "admin"))

    def refused(path, body, status, field):
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert field in (error["field"] or error["message"]), (body, error)

    refused("/api/v1/calendars", {**CALENDAR, "timezone": "Asia/Beijing"}, 400, "timezone")
    overlapping = {"mon": [["09:00", "12:00"], ["11:30", "18:00"]]}
    refused("/api/v1/calendars", {**CALENDAR, "hours": overlapping}, 400, "hours.mon")
    refused(
        "/api/v1/calendars",
        {**CALENDAR, "hours": {"mon": [["25:00", "26:00"]]}},
        400,
        "hours.mon[0]",
    )
    refused("/api/v1/calendars", {**CALENDAR, "region": "HK"}, 422, "region")
    calendar = client.post("/api/v1/calendars", json=CALENDAR, headers=admin).json()
    refused("/api/v1/calendars", CALENDAR, 409, "name")
    policy = {"name": "标准", "calendar_id": calendar["id"]}
    refused(
        "/api/v1/sla-policies",
        {**policy, "first_response_seconds": -60},
        422,
        "first_response_seconds",
    )
    refused("/api/v1/sla-policies", {**policy, "at_risk_fraction": 1.5}, 422, "at_risk_fraction")
    refused("/api/v1/sla-policies", {**policy, "calendar_id": 999}, 404, "calendar_id")
    refused("/api/v1/sla-policies", {**policy, "priority": "asap"}, 422, "priority")
    made = client.post("/api/v1/sla-policies", json=policy, headers=admin).json()
    cleared = client.patch(f"/api/v1/sla-policies/{made['id']}", json={"name": None}, headers=admin)
    assert cleared.status_code == 400 and cleared.json()["error"]["field"] == "name"


def test_the_routes_are_in_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/calendars"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/sla-policies/{policy_id}"])
