"""The Workbook and the RPO alert rule chart and alert on metrics ferry really emits.

`ferry metrics` prints the metric and dimension names declared in src/telemetry/names.rs (the
ones ferry's code records). Every KQL query of the Workbook (infra/workbook/, loaded by
infra/modules/workbook.bicep) and of the RPO alert rule (infra/modules/alerts.bicep) may name
only those: a metric renamed in the code would otherwise leave a chart silently empty and an
alert that never fires.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import INFRA, REPO
from test_bicep import body, resources
from test_permissions import path

WORKBOOK_JSON = INFRA / "workbook" / "ferry.workbook.json"


def _ferry_metrics():
    """Runs the built binary: $FERRY_BIN, else `cargo run`, else target/debug/ferry."""
    if os.environ.get("FERRY_BIN"):
        cmd = [os.environ["FERRY_BIN"], "metrics"]
    elif shutil.which("cargo"):
        cmd = ["cargo", "run", "--quiet", "--bin", "ferry", "--", "metrics"]
    else:
        cmd = [str(REPO / "target" / "debug" / "ferry"), "metrics"]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def emitted():
    return _ferry_metrics()


def workbook():
    return json.loads(WORKBOOK_JSON.read_text())


def workbook_queries():
    return [i["content"]["query"] for i in workbook()["items"] if i["type"] == 3]


def rpo_rule(parsed):
    doc = parsed["modules/alerts.bicep"]
    (rule,) = [r for r in resources(doc, "Microsoft.Insights/scheduledQueryRules").values()
               if body(r)["name"] == "ferry-rpo-above-objective"]
    return body(rule)


def unescape(q):
    """A Bicep string as KQL: `\\'` is a quote."""
    return q.replace("\\'", "'")


def names_in(query):
    """(metric names, dimension names) a KQL query uses."""
    metrics = set(re.findall(r"'(ferry_[A-Za-z0-9_]+)'", query))
    dims = set(re.findall(r"customDimensions\.([A-Za-z_][A-Za-z0-9_]*)", query))
    dims |= set(re.findall(r"customDimensions\[['\"]([^'\"]+)['\"]\]", query))
    return metrics, dims


def test_ferry_declares_its_metrics(emitted):
    names = {m["name"] for m in emitted["metrics"]}
    assert {"ferry_rpo_seconds", "ferry_copies", "ferry_copy_duration_seconds", "ferry_backlog"} <= names
    for m in emitted["metrics"]:
        assert set(m["dimensions"]) <= set(emitted["dimensions"]), m


def test_workbook_is_a_notebook_loaded_from_its_file(parsed):
    doc = parsed["modules/workbook.bicep"]
    (wb,) = resources(doc, "Microsoft.Insights/workbooks").values()
    props = body(wb)["properties"]
    fn = props["serializedData"]["function"]
    assert fn["type"] == "load_text_content"
    assert (INFRA / "modules" / fn["parameters"]["file_path"]).resolve() == WORKBOOK_JSON.resolve()
    assert props["sourceId"] == "appInsightsId"
    assert workbook()["version"] == "Notebook/1.0"
    assert "workbook" in parsed["main.bicep"]["modules"]


def test_workbook_queries_use_only_emitted_names(emitted):
    declared = {m["name"] for m in emitted["metrics"]}
    dimensions = set(emitted["dimensions"])
    queries = workbook_queries()
    assert len(queries) >= 6
    used = set()
    for q in queries:
        metrics, dims = names_in(q)
        assert metrics, f"a query names no ferry metric: {q}"
        assert metrics <= declared, f"not emitted by ferry: {metrics - declared}"
        assert dims <= dimensions, f"not a ferry dimension: {dims - dimensions}"
        used |= metrics
    # Every metric is charted: RPO and objective, copies, duration, backlog, drills.
    assert used == declared, f"not charted: {declared - used}"


def test_rpo_rule_uses_emitted_names_and_notifies_the_action_group(parsed, emitted):
    declared = {m["name"] for m in emitted["metrics"]}
    dimensions = set(emitted["dimensions"])
    rule = rpo_rule(parsed)
    props = rule["properties"]
    (criterion,) = props["criteria"]["allOf"]
    metrics, dims = names_in(unescape(criterion["query"]))
    assert metrics == {"ferry_rpo_seconds", "ferry_rpo_objective_seconds"} and metrics <= declared
    assert dims <= dimensions and dims
    split = {d["name"] for d in criterion["dimensions"]}
    assert split and split <= dimensions, split
    assert [path(g) for g in props["actions"]["actionGroups"]] == ["actionGroup.id"]
    assert props["scopes"] == ["appInsightsId"]
    assert props["autoMitigate"] is True


def test_alert_webhook_subscription_and_setting(parsed, function_jsons):
    trigger = function_jsons["alert-webhook"]["bindings"][0]
    assert trigger["topicName"] == "%FERRY_ALERTS_TOPIC%"
    sb = parsed["modules/servicebus.bicep"]
    assert sb["parameters"]["alertsWebhookSubscriptionName"]["default"] == trigger["subscriptionName"]
    subs = [body(r) for r in resources(sb, "Microsoft.ServiceBus/namespaces/topics/subscriptions").values()]
    assert "alertsWebhookSubscriptionName" in {s["name"] for s in subs}
    app = json.dumps(parsed["modules/functionapp.bicep"]["variables"]["optionalSettings"])
    assert "FERRY_ALERT_WEBHOOK" in app and "@Microsoft.KeyVault(SecretUri=" in app
