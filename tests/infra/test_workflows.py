"""The GitHub workflows run what the issue asks, with documented actions and CLI commands."""

import yaml

from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def load(name):
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow):
    for job in workflow["jobs"].values():
        yield from job["steps"]


def runs(workflow):
    return "\n".join(s.get("run", "") for s in steps(workflow))


def uses(workflow):
    return [s["uses"] for s in steps(workflow) if "uses" in s]


def test_ci_runs_fmt_clippy_tests_and_checks_the_package():
    ci = load("ci.yml")
    script = runs(ci)
    assert "cargo fmt --all -- --check" in script
    assert "cargo clippy --all-targets --locked -- -D warnings" in script
    assert "scripts/test" in script
    assert "scripts/package" in script
    assert "tests/infra/run.sh" in script
    upload = [s for s in steps(ci) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload and upload[0]["with"]["path"] == "dist/ferry.zip"
    toolchains = [s for s in steps(ci) if s.get("uses", "").startswith("dtolnay/rust-toolchain@")]
    assert any(s.get("with", {}).get("targets") == "x86_64-unknown-linux-musl" for s in toolchains)


def test_deploy_uses_oidc_bicep_and_zip_deploy():
    deploy = load("deploy.yml")
    triggers = deploy[True] if True in deploy else deploy["on"]  # YAML 1.1 reads `on` as True
    assert "workflow_dispatch" in triggers and "push" in triggers
    assert triggers["push"]["tags"]
    assert deploy["permissions"]["id-token"] == "write"
    login = [s for s in steps(deploy) if s.get("uses", "").startswith("azure/login@")]
    assert len(login) == 1 and login[0]["uses"] == "azure/login@v2"
    assert set(login[0]["with"]) == {"client-id", "tenant-id", "subscription-id"}  # no client secret
    script = runs(deploy)
    assert "az deployment sub create" in script
    assert "--template-file infra/main.bicep" in script
    assert "az functionapp deployment source config-zip" in script
    assert "--src dist/ferry.zip" in script
    assert "scripts/package" in script


def test_only_well_known_actions_pinned_to_a_major_version():
    allowed = {"actions/checkout", "actions/cache", "actions/setup-node", "actions/setup-python",
               "actions/upload-artifact", "dtolnay/rust-toolchain", "azure/login"}
    for name in ("ci.yml", "deploy.yml"):
        for ref in uses(load(name)):
            action, _, version = ref.partition("@")
            assert action in allowed, f"{name}: unexpected action {ref}"
            assert version, f"{name}: {ref} is not pinned"
