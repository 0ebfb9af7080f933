"""schemathesis over the whole API (examples, coverage and fuzzing phases) against the live server on
PostgreSQL: no 500, no answer outside the schema (status, content type, body), authentication never
ignored, and another clinic's prescriber never reads the first one's objects (object-level checks
with two prescriber identities). A second, shorter run covers the pharmacy's operations as a
pharmacist. A third phase sends every operation that takes a body a deeply nested JSON body and a
body with NUL characters in its strings (issue 17: both answered 500 before), and asks schemathesis'
checks of each answer: no 500, status and content type as documented. Bounded by schemathesis' own
time budget (about three minutes in all)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from portal.services import api_token_issue
from tests.portal.test_access_matrix import world  # noqa: F401 - the objects the identities own

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth"
SEED = "20261129"


def _run(tmp_path: Path, base: str, name: str, *, user: str, peers: list[str], tokens: dict, parameters: dict,
         checks: str, max_time: int, extra: list[str]) -> tuple[list[str], str]:
    auth = tmp_path / f"{name}-auth.json"
    auth.write_text(json.dumps({"auth": [{"name": who, "fixedHeaders": [{"name": "Authorization", "value": f"Token {token}"}]}
                                         for who, token in tokens.items()]}))
    config = tmp_path / f"{name}.toml"
    lines = ["[auth.wfc]", f'path = "{auth}"', f'user = "{user}"']
    if peers:
        lines.append("peers = [" + ", ".join(f'"{p}"' for p in peers) + "]")
    lines += ["", "[parameters]", *(f'"{key}" = "{value}"' for key, value in parameters.items())]
    config.write_text("\n".join(lines) + "\n")
    junit = tmp_path / f"{name}.xml"
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config), "run", f"{base}/api/schema/",
               "--phases", "examples,coverage,fuzzing", "--checks", checks, "--max-examples", "15", "--max-time", str(max_time),
               "--seed", SEED, "--workers", "2", "--report", "junit", "--report-junit-path", str(junit), "--no-color", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=max_time + 120, cwd=tmp_path)
    summary = done.stdout[done.stdout.find("SUMMARY"):] if "SUMMARY" in done.stdout else done.stdout[-3000:]
    if "= ERRORS =" in done.stdout:  # schemathesis' own trouble generating a case (named, so a reader can judge)
        errors = done.stdout[done.stdout.find("= ERRORS ="):done.stdout.find("= FAILURES =") if "= FAILURES =" in done.stdout else None]
        summary = "\n".join(line[:200] for line in errors.splitlines() if line.startswith("___") or "Error" in line[:40])[:2000] + "\n" + summary
    print(f"[fuzz] {name}: exit {done.returncode}\n{summary}")
    if not junit.exists():
        pytest.fail(f"schemathesis did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    failures = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for failure in case.findall("failure"):
            failures.append(f"{case.get('name')}: {(failure.get('message') or failure.text or '')[:400]}")
    return failures, done.stdout


def _with_nul(value):
    """Every string in a documented example, with a NUL in it."""
    if isinstance(value, str):
        return value[:1] + "\x00" + value[1:]
    if isinstance(value, list):
        return [_with_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _with_nul(item) for key, item in value.items()}
    return value


def _nested(depth: int):
    body: list = []
    for _ in range(depth):
        body = [body]
    return body


def _hostile_phase(base: str, tokens: dict[str, str], path_parameters: dict) -> tuple[list[str], int]:
    """Nested JSON and NUL characters at every operation that takes a JSON body, as each identity."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

    schema = schemathesis.openapi.from_url(f"{base}/api/schema/")
    failures, sent = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        body = operation.body[0] if operation.body else None
        if body is None or "json" not in body.media_type:
            continue
        examples = [example.get("value") for example in (body.definition.get("examples") or {}).values() if isinstance(example, dict)]
        example = next((e for e in examples if isinstance(e, dict)), {"name": "x"})
        params = {name: str(path_parameters.get(name, "00000000-0000-0000-0000-000000000000")) for name in
                  {p.name for p in operation.path_parameters}}
        for label, hostile in (("nested", _nested(900)), ("nul", _with_nul(example))):
            for who, token in tokens.items():
                case = operation.Case(path_parameters=params, body=hostile, media_type=body.media_type,
                                      headers={"Authorization": f"Token {token}", "Idempotency-Key": f"hostile-{sent}"})
                response = case.call(base_url=base)
                sent += 1
                try:
                    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance])
                except Exception as exc:  # noqa: BLE001 - schemathesis' FailureGroup: what it found, for the report
                    failures.append(f"{label} {operation.label} as {who}: {response.status_code} {str(exc)[:300]}")
    return failures, sent


def test_the_whole_api_holds_to_its_schema_under_fuzzing(world, live_server, tmp_path, rivera, chen, pharmacist, technician, settings):  # noqa: F811
    settings.ORDER_CREATE_PER_MINUTE = 1_000_000  # the fuzzer creates orders as fast as it can
    kw = world["kwargs"]
    prescribers = {"rivera": api_token_issue(user=rivera.user, name="fuzz"), "chen": api_token_issue(user=chen.user, name="fuzz")}
    failures, out = _run(
        tmp_path, live_server.url, "prescriber", user="rivera", peers=["rivera", "chen"], tokens=prescribers,
        parameters={"path.order_id": kw["order_id"], "path.patient_id": kw["patient_id"], "path.endpoint_id": kw["endpoint_id"],
                    "path.delivery_id": kw["delivery_id"]},
        checks=CHECKS + ",object_level_authorization", max_time=90, extra=[])
    staff = {"pharmacist": api_token_issue(user=pharmacist, name="fuzz"), "technician": api_token_issue(user=technician, name="fuzz")}
    staff_failures, staff_out = _run(
        tmp_path, live_server.url, "pharmacy", user="pharmacist", peers=[], tokens=staff,
        parameters={"path.order_id": kw["order_id"], "path.job_id": kw["job_id"], "path.lot_id": kw["lot_id"],
                    "path.shipment_id": kw["shipment_id"]},
        checks=CHECKS, max_time=45,
        extra=["--include-path-regex", r"/api/v1/(jobs|formulary/lots|shipments)|/(approve|reject|request-clarification)/$"])
    hostile_failures, sent = _hostile_phase(live_server.url, {**prescribers, **staff}, kw)
    print(f"[fuzz] nested-JSON and NUL phase: {sent} requests")
    assert "Operations:" in out and "Tested:" in out and "Tested:" in staff_out and sent > 40  # it really ran
    assert failures + staff_failures + hostile_failures == [], "\n".join(failures + staff_failures + hostile_failures)
