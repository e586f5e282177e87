"""The roles infra/ grants ferry's identity are exactly the ones ferry's code declares.

`ferry permissions --output json` prints the declaration in src/permissions.rs: every Service
Bus entity ferry sends to (Sender) or is triggered by (Receiver), named by its app setting,
the ledger table (Table Data Contributor), and the ARM actions on the source and target
sides. These tests follow each setting through the Bicep (functionapp.bicep's app setting ->
the module parameter -> the value main.bicep passes -> the data-roles.bicep parameter given the
same value -> the resource that parameter names -> the role assignments scoped on it) and
compare the set of (role, setting) grants with the declared set: nothing missing, nothing
extra. Checking role types per resource type cannot catch a grant on the wrong entity or a
missing one, which is how the events queue went without its Sender role.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO
from test_bicep import _role_guid, body, custom_roles, resources, scope_symbol

# The roles ferry's own code needs on data-plane entities; any assignment of one of these in
# data-roles.bicep must be one ferry declares.
FERRY_DATA_ROLES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",  # Azure Service Bus Data Sender
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",  # Azure Service Bus Data Receiver
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
}


def _ferry_permissions():
    """Runs the built binary: $FERRY_BIN, else `cargo run` (rebuilds if stale), else target/debug/ferry."""
    args = ["permissions", "--output", "json"]
    if os.environ.get("FERRY_BIN"):
        cmd = [os.environ["FERRY_BIN"], *args]
    elif shutil.which("cargo"):
        cmd = ["cargo", "run", "--quiet", "--bin", "ferry", "--", *args]
    else:
        cmd = [str(REPO / "target" / "debug" / "ferry"), *args]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def declared():
    return _ferry_permissions()


def path(node):
    """`a.b.c` for a property accessor (pycep nests them either way), a symbol as is."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        ops = node["operator"]["operands"]
        left, right = path(ops["operand_1"]), path(ops["operand_2"])
        return f"{left}.{right}" if left and right else None
    return None


def refs(node):
    """The symbol paths an expression mentions: an accessor, or each `${...}` in a string."""
    if isinstance(node, str):
        return set(re.findall(r"\$\{([^}]*)\}", node)) or {node}
    p = path(node)
    return {p} if p else set()


def app_setting_params(parsed):
    """FERRY_* app setting -> the functionapp.bicep parameter that holds its value."""
    doc = parsed["modules/functionapp.bicep"]
    settings = {}
    for item in doc["variables"]["commonSettings"]["value"]:
        if isinstance(item["value"], str) and item["value"] in doc["parameters"]:
            settings[item["name"]] = item["value"]
    return settings


def setting_grants_in_bicep(parsed):
    """{(role guid, setting)} for every ferry data-plane role assigned in data-roles.bicep."""
    main = parsed["main.bicep"]["modules"]
    app_params = body(main["functionApp"])["params"]
    role_params = body(main["dataRoles"])["params"]
    # The value main.bicep gives each data-roles parameter, as the symbols it mentions.
    role_param_refs = {name: refs(expr) for name, expr in role_params.items()}
    # data-roles parameter -> setting, by the value both are given in main.bicep.
    param_setting = {}
    for setting, app_param in app_setting_params(parsed).items():
        if app_param not in app_params:
            continue  # left at the module's default: no resource of main.bicep
        setting_refs = refs(app_params[app_param])
        for name, value_refs in role_param_refs.items():
            if value_refs and value_refs <= setting_refs:
                assert name not in param_setting, f"{name} matches {param_setting[name]} and {setting}"
                param_setting[name] = setting
    doc = parsed["modules/data-roles.bicep"]
    existing = resources(doc, include_existing=True)
    grants = set()
    for name, res in resources(doc, "Microsoft.Authorization/roleAssignments").items():
        a = body(res)
        guid = _role_guid(doc, a)
        if guid not in FERRY_DATA_ROLES:
            continue
        assert a["properties"]["principalId"] == "principalId", f"{name} is not for the app's identity"
        target = existing[scope_symbol(a)]
        target_name = body(target)["name"]
        setting = param_setting.get(target_name, f"<{scope_symbol(a)}: no ferry setting names it>")
        grants.add((guid, setting, target["type"]))
    return grants


def test_data_plane_grants_are_exactly_what_ferry_declares(parsed, declared):
    want = {(row["roleDefinitionId"], row["setting"], row["resource"]) for row in declared["dataPlane"]}
    assert want, "ferry permissions declared no data-plane needs"
    got = setting_grants_in_bicep(parsed)
    missing = want - got
    extra = got - want
    assert not missing and not extra, f"missing grants: {sorted(missing)}; extra grants: {sorted(extra)}"


def test_every_declared_setting_is_an_app_setting(parsed, declared):
    settings = app_setting_params(parsed)
    for row in declared["dataPlane"]:
        assert row["setting"] in settings, f"{row['setting']} is not set in functionapp.bicep"


def test_the_events_queue_gets_both_roles(parsed, declared):
    # The bug this file exists for: ingest re-queues events on the events queue.
    got = {(g, s) for g, s, _ in setting_grants_in_bicep(parsed)}
    assert ("69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", "FERRY_EVENTS_QUEUE") in got
    assert ("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", "FERRY_EVENTS_QUEUE") in got


def test_service_bus_triggers_match_the_declared_receivers(function_jsons, declared):
    receivers = {row["setting"] for row in declared["dataPlane"]
                 if row["role"] == "Azure Service Bus Data Receiver"}
    triggered = set()
    for fj in function_jsons.values():
        for b in fj["bindings"]:
            if b["type"] == "serviceBusTrigger":
                triggered.add(b.get("queueName", b.get("topicName", "")).strip("%"))
    assert triggered == receivers


def test_custom_roles_hold_exactly_the_declared_arm_actions(parsed, declared):
    # The source role: what ferry reads on the source side; the target role: what it does
    # on the target side. Derived from the ARM client's calls (src/permissions.rs).
    roles = custom_roles(parsed)
    for side, output in (("source", "sourceReaderRoleId"), ("target", "targetWriterRoleId"),
                         ("drill", "drillOperatorRoleId")):
        want = {n["action"] for n in declared["arm"] if n["side"] == side}
        assert want, f"ferry declares no {side} actions"
        assert roles[output][1] == want, f"{output}: extra {roles[output][1] - want}, missing {want - roles[output][1]}"
    assert not any(n["side"] == "source" and not n["action"].endswith("/read") for n in declared["arm"])
