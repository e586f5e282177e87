"""Assertions on the Bicep that matter for a least-privilege, secret-free deployment.

Every .bicep file under infra/ is parsed with pycep (PyPI pycep-parser); the tests then
read the parsed resources, so a property that is renamed, dropped or loosened fails here.
"""

import re

import pytest
from pycep import BicepParser

from conftest import BICEP_FILES, INFRA, REPO

# ---------------------------------------------------------------- helpers


def unquote(key):
    return key[1:-1] if isinstance(key, str) and len(key) >= 2 and key[0] == key[-1] == "'" else key


def norm(node):
    """pycep keeps quotes on quoted object keys ('odata.type'); drop them."""
    if isinstance(node, dict):
        return {unquote(k): norm(v) for k, v in node.items()}
    if isinstance(node, list):
        return [norm(v) for v in node]
    return node


def body(resource):
    """The resource/module body, looking through a `for` loop and an `if` wrapper."""
    config = resource["config"]
    if "loop_type" in config:
        config = config["config"]
    if set(config) == {"condition", "config"}:
        config = config["config"]
    return norm(config)


def condition(resource):
    """The `if (...)` condition of a resource/module: a symbol, `!symbol`, or None."""
    config = resource["config"]
    cond = config.get("condition") if isinstance(config, dict) else None
    if isinstance(cond, dict) and cond.get("operator", {}).get("type") == "not":
        return "!" + cond["operator"]["operands"]["bool_value"]
    return cond


def resources(doc, rtype=None, include_existing=False):
    out = {}
    for name, res in doc.get("resources", {}).items():
        if rtype is not None and res["type"] != rtype:
            continue
        if res.get("existing") and not include_existing:
            continue
        out[name] = res
    return out


def one(doc, rtype):
    found = resources(doc, rtype)
    assert len(found) == 1, f"expected exactly one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))


def conditional_branches(node):
    """Both values of a `cond ? a : b` node, or the node itself."""
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional":
        ops = node["operator"]["operands"]
        return [ops["true_value"], ops["false_value"]]
    return [node]


def name_value_pairs(node, acc):
    """Collect every {name: <literal>, value: ...} object anywhere under node."""
    if isinstance(node, dict):
        if set(node) == {"name", "value"} and isinstance(node["name"], str):
            acc.append(node)
        for v in node.values():
            name_value_pairs(v, acc)
    elif isinstance(node, list):
        for v in node:
            name_value_pairs(v, acc)
    return acc


def app_settings(parsed):
    doc = parsed["modules/functionapp.bicep"]
    return {s["name"]: s["value"] for s in name_value_pairs(doc["variables"], [])}


def variable(doc, name):
    return norm(doc["variables"][name]["value"])


def scope_symbol(assignment):
    """The resource symbol an assignment's `scope:` names (`x`, or `x[i]` in a loop)."""
    scope = assignment.get("scope")
    if isinstance(scope, dict) and scope.get("operator", {}).get("type") == "index_accessor":
        return scope["operator"]["operands"]["operand_1"]
    return scope


def loop_array(resource):
    """(array, condition) of a `for` loop: `for x in (cond ? array : [])` gives (array, cond)."""
    array = resource["config"]["loop_type"]["detail"]["array_name"]
    if isinstance(array, dict) and array.get("operator", {}).get("type") == "conditional":
        ops = array["operator"]["operands"]
        assert ops["false_value"] == [], "a conditional loop must be empty when off"
        return ops["true_value"], ops["condition"]
    return array, None


def accessor_path(node):
    """`a.b.c` for a property accessor, a symbol as is, None otherwise."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        ops = node["operator"]["operands"]
        left, right = accessor_path(ops["operand_1"]), accessor_path(ops["operand_2"])
        return f"{left}.{right}" if left and right else None
    return None


# ---------------------------------------------------------------- parsing


def test_bicep_files_found():
    names = {str(p.relative_to(INFRA)) for p in BICEP_FILES}
    for required in [
        "main.bicep",
        "modules/functionapp.bicep",
        "modules/storage.bicep",
        "modules/servicebus.bicep",
        "modules/eventgrid.bicep",
        "modules/custom-role.bicep",
        "modules/data-roles.bicep",
        "modules/monitoring.bicep",
        "modules/alerts.bicep",
        "modules/target-collection.bicep",
    ]:
        assert required in names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path):
    doc = BicepParser().parse(file_path=path)
    assert doc.get("resources") or doc.get("modules"), f"{path} declares nothing"


def test_parser_rejects_broken_bicep():
    # The parser is a real one: a truncated resource body does not parse.
    with pytest.raises(Exception):
        BicepParser().parse(text="resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'a'\n")


def test_main_is_subscription_scoped_and_modules_exist(parsed):
    main = parsed["main.bicep"]
    assert main["globals"]["scope"]["value"] == "subscription"
    for name, module in main["modules"].items():
        path = INFRA / module["detail"]["path"]
        assert path.is_file(), f"module {name} points at missing {path}"
    used = {m["detail"]["path"] for m in main["modules"].values()}
    for path in INFRA.glob("modules/*.bicep"):
        rel = f"modules/{path.name}"
        if rel != "modules/target-collection.bicep":  # used by teams, not by main
            assert rel in used, f"{rel} is not wired into main.bicep"


def test_bicepparam_matches_main(parsed):
    text = (INFRA / "main.bicepparam").read_text()
    assert re.search(r"^using\s+'\./main\.bicep'", text, re.M)
    given = set(re.findall(r"^param\s+(\w+)\s*=", text, re.M))
    params = parsed["main.bicep"]["parameters"]
    assert given <= set(params), f"unknown parameters: {given - set(params)}"
    required = {n for n, p in params.items() if p.get("default") is None}
    assert required <= given, f"main.bicepparam misses required parameters {required - given}"
    assert params["planKind"]["default"] == "FlexConsumption"
    allowed = [d["argument"] for d in params["planKind"]["decorators"] if d["type"] == "allowed"]
    assert allowed == [["FlexConsumption", "ElasticPremium"]]


# ---------------------------------------------------------------- Service Bus


def test_copy_queue_has_sessions_and_duplicate_detection(parsed):
    doc = parsed["modules/servicebus.bicep"]
    queues = {n: body(r) for n, r in resources(doc, "Microsoft.ServiceBus/namespaces/queues").items()}
    assert set(queues) == {"eventsQueue", "copyQueue"}
    copy = queues["copyQueue"]["properties"]
    assert copy["requiresSession"] is True
    assert copy["requiresDuplicateDetection"] is True
    assert copy["deadLetteringOnMessageExpiration"] is True
    assert doc["parameters"]["duplicateDetectionWindow"]["default"] == "P7D"
    events = queues["eventsQueue"]["properties"]
    assert events["requiresSession"] is False  # Event Grid cannot set a SessionId
    assert events["deadLetteringOnMessageExpiration"] is True


def test_alerts_topic_and_subscription_dead_letter(parsed):
    doc = parsed["modules/servicebus.bicep"]
    one(doc, "Microsoft.ServiceBus/namespaces/topics")
    subs = resources(doc, "Microsoft.ServiceBus/namespaces/topics/subscriptions")
    assert subs, "no alerts subscription"
    for res in subs.values():  # operators', and the alert-webhook function's
        sub = body(res)["properties"]
        assert sub["deadLetteringOnMessageExpiration"] is True
        assert sub["deadLetteringOnFilterEvaluationExceptions"] is True


def test_service_bus_local_auth_disabled(parsed):
    doc = parsed["modules/servicebus.bicep"]
    ns = body(one(doc, "Microsoft.ServiceBus/namespaces"))
    premium, standard = conditional_branches(ns["sku"])
    assert standard == {"name": "Standard", "tier": "Standard"}
    assert premium["name"] == "Premium" and premium["tier"] == "Premium"
    assert doc["parameters"]["sku"]["default"] == "Standard"
    assert ns["properties"]["disableLocalAuth"] is True
    assert ns["properties"]["minimumTlsVersion"] == "1.2"
    # No SAS rule may be declared anywhere.
    for path, doc in parsed.items():
        for res in doc.get("resources", {}).values():
            assert "authorizationRules" not in res["type"], f"{path} declares a SAS rule"


# ---------------------------------------------------------------- Storage


def test_storage_shared_keys_and_public_access_off(parsed):
    account = body(one(parsed["modules/storage.bicep"], "Microsoft.Storage/storageAccounts"))["properties"]
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["defaultToOAuthAuthentication"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["supportsHttpsTrafficOnly"] is True
    containers = resources(parsed["modules/storage.bicep"], "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert containers
    for c in containers.values():
        assert body(c)["properties"]["publicAccess"] == "None"
    one(parsed["modules/storage.bicep"], "Microsoft.Storage/storageAccounts/tableServices/tables")


def _public_access_param(parsed, module_path, main_param, main_module):
    """The module's publicNetworkAccess parameter: Enabled/Disabled, default Enabled, used
    by the resource, and fed from a main.bicep parameter with the same default."""
    doc = parsed[module_path]
    p = doc["parameters"]["publicNetworkAccess"]
    allowed = [d["argument"] for d in p["decorators"] if d["type"] == "allowed"]
    assert allowed == [["Enabled", "Disabled"]]
    assert p["default"] == "Enabled"
    main = parsed["main.bicep"]
    mp = main["parameters"][main_param]
    assert mp["default"] == "Enabled"
    assert [d["argument"] for d in mp["decorators"] if d["type"] == "allowed"] == [["Enabled", "Disabled"]]
    assert body(main["modules"][main_module])["params"]["publicNetworkAccess"] == main_param
    return doc


def test_storage_public_network_access_is_a_parameter(parsed):
    doc = _public_access_param(parsed, "modules/storage.bicep", "storagePublicNetworkAccess", "storage")
    account = body(one(doc, "Microsoft.Storage/storageAccounts"))["properties"]
    assert account["publicNetworkAccess"] == "publicNetworkAccess"


def test_service_bus_public_network_access_is_a_parameter(parsed):
    doc = _public_access_param(parsed, "modules/servicebus.bicep", "serviceBusPublicNetworkAccess", "serviceBus")
    ns = body(one(doc, "Microsoft.ServiceBus/namespaces"))["properties"]
    assert ns["publicNetworkAccess"] == "publicNetworkAccess"
    # Private endpoints need Premium: the tier is a parameter too, Standard by default.
    main = parsed["main.bicep"]
    assert main["parameters"]["serviceBusSku"]["default"] == "Standard"
    assert body(main["modules"]["serviceBus"])["params"]["sku"] == "serviceBusSku"


def test_log_analytics_local_auth_off(parsed):
    ws = body(one(parsed["modules/monitoring.bicep"], "Microsoft.OperationalInsights/workspaces"))
    assert ws["properties"]["features"]["disableLocalAuth"] is True


HOST_CONTAINERS = ["azure-webjobs-hosts", "azure-webjobs-secrets"]


def test_host_containers_exist_so_roles_can_be_scoped_to_them(parsed):
    doc = parsed["modules/storage.bicep"]
    assert variable(doc, "hostContainerNames") == HOST_CONTAINERS
    loops = [r for r in resources(doc, "Microsoft.Storage/storageAccounts/blobServices/containers").values()
             if "loop_type" in r["config"]]
    (loop,) = loops
    assert loop_array(loop) == ("hostContainerNames", None)
    assert body(loop)["properties"]["publicAccess"] == "None"
    main = parsed["main.bicep"]
    params = body(main["modules"]["dataRoles"])["params"]
    assert accessor_path(params["hostContainerNames"]) == "storage.outputs.hostContainerNames"
    assert accessor_path(params["deploymentContainerName"]) == "storage.outputs.deploymentContainerName"
    assert params["planKind"] == "planKind"


def _blob_grants(parsed):
    """{(role, container param/array, condition)} for the app's blob role assignments."""
    doc = parsed["modules/data-roles.bicep"]
    existing = resources(doc, include_existing=True)
    out = set()
    for res in resources(doc, "Microsoft.Authorization/roleAssignments").values():
        a = body(res)
        role = BUILTIN[_role_guid(doc, a)]
        if not role.startswith("Storage Blob"):
            continue
        target = existing[scope_symbol(a)]
        assert target["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"
        named = loop_array(target)[0] if "loop_type" in target["config"] else body(target)["name"]
        out.add((role, named, condition(res)))
    return out


def test_app_blob_access_is_per_container(parsed):
    # No role on the account: the host gets its two containers; the deployment container is
    # written by the platform's one-deploy with the app's identity on Flex Consumption, and
    # only read (the run-from-blob-URL fallback) on Elastic Premium.
    assert _blob_grants(parsed) == {
        ("Storage Blob Data Contributor", "hostContainerNames", None),
        ("Storage Blob Data Contributor", "deploymentContainerName", "isFlex"),
        ("Storage Blob Data Reader", "deploymentContainerName", "!isFlex"),
    }
    doc = parsed["modules/data-roles.bicep"]
    assert variable(doc, "isFlex") == {"operator": {"type": "equals", "operands": {
        "operand_1": "planKind", "operand_2": "FlexConsumption"}}}
    # Nothing anywhere gives the app a role on the whole storage account or namespace.
    for path, d in parsed.items():
        ex = resources(d, include_existing=True)
        for name, res in resources(d, "Microsoft.Authorization/roleAssignments").items():
            sym = scope_symbol(body(res))
            if isinstance(sym, str) and sym in ex:
                assert ex[sym]["type"] not in ("Microsoft.Storage/storageAccounts", "Microsoft.ServiceBus/namespaces"), \
                    f"{path}: {name} is scoped to a whole {ex[sym]['type']}"


def test_no_keys_or_connection_strings_anywhere():
    for path in BICEP_FILES:
        text = path.read_text()
        for forbidden in ("listKeys(", "listkeys(", "AccountKey=", "SharedAccessKey", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"):
            assert forbidden not in text, f"{path.name} uses {forbidden}"


# ---------------------------------------------------------------- Function App


def test_function_app_identity_tls_https_ftp(parsed):
    doc = parsed["modules/functionapp.bicep"]
    site = body(one(doc, "Microsoft.Web/sites"))
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "SystemAssigned"
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["scmMinTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    policies = {body(r)["name"]: body(r)["properties"]["allow"]
                for r in resources(doc, "Microsoft.Web/sites/basicPublishingCredentialsPolicies").values()}
    assert policies == {"ftp": False, "scm": False}


def test_flex_runtime_is_custom_and_premium_settings_only_off_flex(parsed):
    doc = parsed["modules/functionapp.bicep"]
    site = body(one(doc, "Microsoft.Web/sites"))
    flex, premium = conditional_branches(site["properties"]["functionAppConfig"])
    assert flex["runtime"] == {"name": "custom", "version": "1.0"}
    assert flex["deployment"]["storage"]["authentication"]["type"] == "SystemAssignedIdentity"
    assert premium is None
    plan = body(one(doc, "Microsoft.Web/serverfarms"))
    skus = conditional_branches(plan["sku"])
    assert skus[0]["tier"] == "FlexConsumption" and skus[1]["tier"] == "ElasticPremium"
    for props in conditional_branches(plan["properties"]):
        assert props["reserved"] is True  # Linux
    premium_names = {s["name"]: s["value"] for s in variable(doc, "premiumSettings")}
    assert premium_names["FUNCTIONS_WORKER_RUNTIME"] == "custom"
    assert premium_names["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    common = {s["name"] for s in variable(doc, "commonSettings")}
    assert "FUNCTIONS_WORKER_RUNTIME" not in common  # Flex rejects it


FERRY_SETTINGS = {
    "FERRY_ARM_ENDPOINT",
    "FERRY_SERVICEBUS_ENDPOINT",
    "FERRY_EVENTS_QUEUE",
    "FERRY_COPY_QUEUE",
    "FERRY_ALERTS_TOPIC",
    "FERRY_LEDGER",
    "FERRY_POLICY",
    "FERRY_CREDENTIAL",
    "FERRY_MANAGED_IDENTITY_CLIENT_ID",
    "FERRY_LOG_FORMAT",
    "FERRY_STALL_AFTER",
    "FERRY_EXPIRY_WARNING",
    "FERRY_DRILL_SCHEDULE",
}
FERRY_OPTIONAL = {"FERRY_COMPUTE_API_VERSION", "FERRY_DISK_API_VERSION", "FERRY_ARM_READ_RATE", "FERRY_ARM_WRITE_RATE",
                  "FERRY_ALERT_WEBHOOK"}


def test_every_ferry_setting_is_set(parsed):
    settings = app_settings(parsed)
    ferry = {n for n in settings if n.startswith("FERRY_")}
    assert FERRY_SETTINGS <= ferry, f"missing {FERRY_SETTINGS - ferry}"
    assert ferry <= FERRY_SETTINGS | FERRY_OPTIONAL, f"unknown settings {ferry - FERRY_SETTINGS - FERRY_OPTIONAL}"
    assert FERRY_OPTIONAL <= ferry
    assert settings["FERRY_CREDENTIAL"] == "managed-identity"
    assert settings["FERRY_MANAGED_IDENTITY_CLIENT_ID"] == ""
    assert settings["FERRY_LOG_FORMAT"] == "json"
    assert settings["FERRY_POLICY"] == {"function": {"type": "string", "parameters": {"value_to_convert": "policy"}}}
    params = parsed["modules/functionapp.bicep"]["parameters"]
    assert params["policy"]["type"] == "object"
    assert params["armEndpoint"]["default"] == "https://management.azure.com"
    assert params["stallAfter"]["default"] == "PT6H"
    assert params["expiryWarning"]["default"] == "P2D"


def test_identity_based_host_storage_and_telemetry(parsed):
    settings = app_settings(parsed)
    assert "AzureWebJobsStorage__accountName" in settings
    assert "AzureWebJobsStorage" not in settings  # a connection string would carry a key
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"
    ai = body(one(parsed["modules/monitoring.bicep"], "Microsoft.Insights/components"))
    assert ai["properties"]["DisableLocalAuth"] is True


def test_every_function_json_connection_has_its_app_setting(parsed, function_jsons):
    settings = app_settings(parsed)
    assert function_jsons, "no functions/*/function.json found"
    connections = set()
    placeholders = set()
    for fname, fj in function_jsons.items():
        for binding in fj.get("bindings", []):
            if "connection" in binding:
                connections.add((fname, binding["type"], binding["connection"]))
            for value in binding.values():
                if isinstance(value, str):
                    placeholders.update(re.findall(r"%([A-Za-z0-9_]+)%", value))
    assert connections
    for fname, btype, conn in sorted(connections):
        if btype.lower().startswith("servicebus"):
            key = f"{conn}__fullyQualifiedNamespace"
        else:
            key = f"{conn}__accountName"
        assert key in settings, f"{fname}: connection {conn} ({btype}) has no app setting {key}"
        assert conn not in settings, f"{conn} must be identity-based, not a connection string"
    for name in sorted(placeholders):
        assert name in settings, f"%{name}% used in function.json is not an app setting"


# ---------------------------------------------------------------- roles

ROLE_ASSIGNMENT_MODULES = {"modules/role-assignment-subscription.bicep": "subscription",
                           "modules/role-assignment-resource-group.bicep": "resource_group"}


def control_plane_assignments(parsed):
    """{(loop array, condition, scope kind, custom-role output)} for every control-plane
    role assignment main.bicep makes."""
    out = set()
    for name, module in parsed["main.bicep"]["modules"].items():
        kind = ROLE_ASSIGNMENT_MODULES.get(module["detail"]["path"])
        if kind is None:
            continue
        array, cond = loop_array(module)
        b = body(module)
        assert b["scope"]["function"]["type"] == kind, name
        role = accessor_path(b["params"]["roleDefinitionId"])
        assert role.startswith("customRole.outputs."), f"{name} assigns {role}"
        assert b["params"]["principalId"] == {"operator": {"type": "property_accessor", "operands": {
            "operand_1": "functionApp", "operand_2": {"operator": {"type": "property_accessor", "operands": {
                "operand_1": "outputs", "operand_2": "principalId"}}}}}}, name
        out.add((array, cond, kind, role.removeprefix("customRole.outputs.")))
    return out


def test_each_role_is_assigned_only_on_its_side(parsed):
    # Source scopes get the read-only role; only target resource groups get the role that
    # writes and deletes; pruning and locking are separate assignments at the source
    # scopes, made only when their parameter is on.
    assert control_plane_assignments(parsed) == {
        ("sourceSubscriptions", None, "subscription", "sourceReaderRoleId"),
        ("sourceResourceGroups", None, "resource_group", "sourceReaderRoleId"),
        ("targetResourceGroups", None, "resource_group", "targetWriterRoleId"),
        ("sourceSubscriptions", "allowSourcePruning", "subscription", "sourcePrunerRoleId"),
        ("sourceResourceGroups", "allowSourcePruning", "resource_group", "sourcePrunerRoleId"),
        ("sourceSubscriptions", "protectBaseRestorePoints", "subscription", "baseLockerRoleId"),
        ("sourceResourceGroups", "protectBaseRestorePoints", "resource_group", "baseLockerRoleId"),
        ("drillResourceGroups", None, "resource_group", "drillOperatorRoleId"),
    }
    main = parsed["main.bicep"]
    params = main["parameters"]
    assert "roleScopes" not in params
    assert params["sourceScopes"]["type"] == "array" and params["sourceScopes"].get("default") is None
    assert params["targetResourceGroups"]["type"] == "array" and params["targetResourceGroups"].get("default") is None
    for flag in ("allowSourcePruning", "protectBaseRestorePoints"):
        assert params[flag]["type"] == "bool" and params[flag]["default"] is False, flag
    # The source arrays come from sourceScopes alone, split by whether a group is given.
    assert main["variables"]["normalizedSources"]["value"]["loop_type"]["detail"]["array_name"] == "sourceScopes"
    for var, negated in (("sourceSubscriptions", False), ("sourceResourceGroups", True)):
        f = main["variables"][var]["value"]["function"]
        assert f["type"] == "filter" and f["parameters"]["input_array"] == "normalizedSources", var
    # The target loop scopes each assignment to the listed group.
    target = next(m for m in main["modules"].values()
                  if ROLE_ASSIGNMENT_MODULES.get(m["detail"]["path"]) and loop_array(m)[0] == "targetResourceGroups")
    scope = body(target)["scope"]["function"]["parameters"]
    assert accessor_path(scope["resource_group_name"]) == "t.resourceGroup"
    assert accessor_path(scope["subscription_id"]) == "t.subscriptionId"
    # The drill role goes on the listed drill groups alone, after each is created.
    drill = next(m for m in main["modules"].values()
                 if ROLE_ASSIGNMENT_MODULES.get(m["detail"]["path"]) and loop_array(m)[0] == "drillResourceGroups")
    scope = body(drill)["scope"]["function"]["parameters"]
    assert accessor_path(scope["resource_group_name"]) == "d.resourceGroup"
    assert accessor_path(scope["subscription_id"]) == "d.subscriptionId"
    assert params["drillResourceGroups"]["type"] == "array"
    custom = body(main["modules"]["customRole"])["params"]
    assert custom["allowSourcePruning"] == "allowSourcePruning"
    assert custom["protectBaseRestorePoints"] == "protectBaseRestorePoints"
    for path in ROLE_ASSIGNMENT_MODULES:
        a = body(one(parsed[path], "Microsoft.Authorization/roleAssignments"))["properties"]
        assert a["roleDefinitionId"] == "roleDefinitionId" and a["principalType"] == "ServicePrincipal"


def custom_roles(parsed):
    """custom-role.bicep output name -> (condition, set of actions) of the role it returns."""
    doc = parsed["modules/custom-role.bicep"]
    assert doc["globals"]["scope"]["value"] == "subscription"
    defs = resources(doc, "Microsoft.Authorization/roleDefinitions")
    out = {}
    for name, o in doc["outputs"].items():
        (value,) = conditional_branches(o["value"])[:1]
        symbol = accessor_path(value).removesuffix(".id")
        res = defs[symbol]
        role = body(res)["properties"]
        assert role["type"] == "CustomRole"
        (perm,) = role["permissions"]
        assert perm["dataActions"] == [] and perm["notActions"] == [] and perm["notDataActions"] == []
        assert all("*" not in a for a in perm["actions"])
        assert len(set(perm["actions"])) == len(perm["actions"]), f"{symbol} lists an action twice"
        out[name] = (condition(res), set(perm["actions"]))
    assert len(out) == len(defs), "a role definition is not an output"
    return out


def test_optional_roles_are_defined_only_when_on(parsed):
    roles = custom_roles(parsed)
    assert roles["sourcePrunerRoleId"] == ("allowSourcePruning", {
        "Microsoft.Compute/restorePointCollections/restorePoints/delete"})
    assert roles["baseLockerRoleId"] == ("protectBaseRestorePoints", {
        "Microsoft.Authorization/locks/write"})
    assert roles["sourceReaderRoleId"][0] is None and roles["targetWriterRoleId"][0] is None
    # The drill role touches disks only: write, read, delete, and reading their operations.
    assert roles["drillOperatorRoleId"] == (None, {
        "Microsoft.Compute/disks/write", "Microsoft.Compute/disks/read", "Microsoft.Compute/disks/delete",
        "Microsoft.Compute/locations/DiskOperations/read"})
    # The source role never writes or deletes.
    assert all(a.endswith("/read") for a in roles["sourceReaderRoleId"][1])


BUILTIN = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}


def _role_guid(doc, assignment):
    rdi = assignment["properties"]["roleDefinitionId"]
    assert rdi["function"]["type"] == "subscription_resource_id"
    params = rdi["function"]["parameters"]
    assert params["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    ref = params["resource_name_1"]
    # `roles.x` (an object variable) or a plain variable holding the GUID.
    if isinstance(ref, dict):
        ops = ref["operator"]["operands"]
        return variable(doc, ops["operand_1"])[ops["operand_2"]]
    return variable(doc, ref)


def test_data_plane_roles_on_their_resources_only(parsed):
    doc = parsed["modules/data-roles.bicep"]
    existing = resources(doc, include_existing=True)
    got = {}
    for name, res in resources(doc, "Microsoft.Authorization/roleAssignments").items():
        a = body(res)
        guid = _role_guid(doc, a)
        assert guid in BUILTIN, f"{name} uses unknown role {guid}"
        scope_type = existing[scope_symbol(a)]["type"]
        got.setdefault(BUILTIN[guid], set()).add(scope_type)
        assert a["properties"]["principalId"] == "principalId"
    container = "Microsoft.Storage/storageAccounts/blobServices/containers"
    assert got == {
        "Storage Blob Data Contributor": {container},
        "Storage Blob Data Reader": {container},
        "Storage Table Data Contributor": {"Microsoft.Storage/storageAccounts/tableServices/tables"},
        # Topics: the alert-webhook function reads the alerts topic's `webhook` subscription.
        "Azure Service Bus Data Receiver": {"Microsoft.ServiceBus/namespaces/queues", "Microsoft.ServiceBus/namespaces/topics"},
        "Azure Service Bus Data Sender": {"Microsoft.ServiceBus/namespaces/queues", "Microsoft.ServiceBus/namespaces/topics"},
        "Monitoring Metrics Publisher": {"Microsoft.Insights/components"},
    }


def test_event_grid_identity_roles_are_narrow(parsed):
    doc = parsed["modules/eventgrid.bicep"]
    existing = resources(doc, include_existing=True)
    scopes = {}
    for res in resources(doc, "Microsoft.Authorization/roleAssignments").values():
        a = body(res)
        scopes[BUILTIN[_role_guid(doc, a)]] = existing[scope_symbol(a)]["type"]
    assert scopes == {
        "Azure Service Bus Data Sender": "Microsoft.ServiceBus/namespaces/queues",
        "Storage Blob Data Contributor": "Microsoft.Storage/storageAccounts/blobServices/containers",
    }


# ---------------------------------------------------------------- Event Grid


def test_event_grid_system_topic_and_filter(parsed):
    doc = parsed["modules/eventgrid.bicep"]
    topic = body(one(doc, "Microsoft.EventGrid/systemTopics"))
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert topic["location"] == "global"
    assert topic["identity"]["type"] == "SystemAssigned"
    sub = body(one(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions"))["properties"]
    filt = sub["filter"]
    assert set(filt["includedEventTypes"]) == {
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
    }
    (adv,) = filt["advancedFilters"]
    assert adv["operatorType"] == "StringIn"
    assert adv["key"] == "data.operationName"
    values = adv["values"] if isinstance(adv["values"], list) else variable(doc, adv["values"])
    assert set(values) == {
        "Microsoft.Compute/restorePointCollections/restorePoints/write",
        "Microsoft.Compute/restorePointCollections/restorePoints/delete",
    }


def test_event_grid_delivers_with_identity_and_dead_letters(parsed):
    doc = parsed["modules/eventgrid.bicep"]
    sub = body(one(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions"))["properties"]
    assert "destination" not in sub  # only identity-based delivery
    delivery = sub["deliveryWithResourceIdentity"]
    assert delivery["identity"]["type"] == "SystemAssigned"
    assert delivery["destination"]["endpointType"] == "ServiceBusQueue"
    dead = sub["deadLetterWithResourceIdentity"]
    assert dead["identity"]["type"] == "SystemAssigned"
    assert dead["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert set(sub["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    params = doc["parameters"]
    assert 1 <= params["maxDeliveryAttempts"]["default"] <= 30
    assert 1 <= params["eventTimeToLiveInMinutes"]["default"] <= 1440


# ---------------------------------------------------------------- monitoring / alerts


def test_alert_rules_cover_dead_letters_and_the_alert_stream(parsed):
    doc = parsed["modules/alerts.bicep"]
    metrics = {}
    for res in resources(doc, "Microsoft.Insights/metricAlerts").values():
        props = body(res)["properties"]
        for c in props["criteria"]["allOf"]:
            metrics[(c["metricNamespace"], c["metricName"])] = c
        assert props["actions"], "metric alert notifies nobody"
    assert ("Microsoft.ServiceBus/namespaces", "DeadletteredMessages") in metrics
    incoming = metrics[("Microsoft.ServiceBus/namespaces", "IncomingMessages")]
    assert incoming["dimensions"][0]["name"] == "EntityName"
    assert incoming["dimensions"][0]["values"] == ["alertsTopicName"]
    assert ("Microsoft.EventGrid/systemTopics", "DeadLetteredCount") in metrics
    rules = {body(r)["name"]: body(r)["properties"]
             for r in resources(doc, "Microsoft.Insights/scheduledQueryRules").values()}
    assert "traces" in rules["ferry-app-errors"]["criteria"]["allOf"][0]["query"]
    assert "ferry_rpo_seconds" in rules["ferry-rpo-above-objective"]["criteria"]["allOf"][0]["query"]
    one(doc, "Microsoft.Insights/actionGroups")


def test_target_collection_module_links_source(parsed):
    doc = parsed["modules/target-collection.bicep"]
    rpc = body(one(doc, "Microsoft.Compute/restorePointCollections"))
    assert rpc["properties"]["source"]["id"] == "sourceCollectionId"
    assert doc["parameters"]["sourceCollectionId"]["type"] == "string"


def test_api_versions_are_dated():
    for path in BICEP_FILES:
        for m in re.finditer(r"'([A-Za-z.]+/[A-Za-z/]+)@([^']+)'", path.read_text()):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.group(2)), f"{path.name}: {m.group(1)} uses {m.group(2)}"


def test_drill_resource_groups_are_created_or_taken(parsed):
    # One module per listed drill group, at its subscription: it creates the group unless the
    # entry says create: false (then the group must exist and is only named).
    main = parsed["main.bicep"]
    mods = [m for m in main["modules"].values() if m["detail"]["path"] == "modules/drill-resource-group.bicep"]
    assert len(mods) == 1
    (m,) = mods
    assert loop_array(m)[0] == "drillResourceGroups"
    doc = parsed["modules/drill-resource-group.bicep"]
    assert doc["globals"]["scope"]["value"] == "subscription"
    (rg,) = resources(doc, "Microsoft.Resources/resourceGroups").values()
    assert condition(rg) == "create"
    assert doc["parameters"]["create"]["default"] is True
