"""The emulator's moto patches: every patch docs/emulator.md lists is applied, under its number, by the module of
its AWS service — and nothing is applied that the document does not list."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EMULATOR = Path(__file__).resolve().parents[1]
REPO = EMULATOR.parents[1]
sys.path.insert(0, str(EMULATOR))

import patches  # noqa: E402  (moto itself is imported only when a patch is applied)

SERVICE_MODULES = ("agentcore", "ecs", "ec2", "elbv2", "route53", "acm", "secretsmanager", "logs", "iam", "cognito")


def documented() -> dict[str, str]:
    """docs/emulator.md's patch table: function name -> number."""
    text = (REPO / "docs" / "emulator.md").read_text()
    table = text.split("## Patches applied by", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+[a-z]?) \| `(\w+)`", table, flags=re.M)
    return {name: number for number, name in rows}


def applied() -> list[tuple[str, str, str]]:
    """`apply_patches`'s calls in order: (module, function, the number its comment gives)."""
    source = (EMULATOR / "patches" / "__init__.py").read_text()
    body = source.split("def apply_patches", 1)[1]
    return re.findall(r"^    (\w+)\.(\w+)\(.*\)  # #(\d+[a-z]?)$", body, flags=re.M)


def test_the_document_lists_the_patches():
    assert len(documented()) >= 28


def test_every_documented_patch_is_applied_and_nothing_else():
    names = [name for _, name, _ in applied()]
    assert len(names) == len(set(names)), "a patch applied twice"
    assert sorted(names) == sorted(documented())


def test_each_call_carries_the_documented_number():
    numbers = documented()
    for _, name, number in applied():
        assert number == numbers[name], f"{name} is #{numbers[name]} in docs/emulator.md, #{number} in apply_patches"


def test_each_patch_lives_in_the_module_of_its_service():
    for module, name, _ in applied():
        assert callable(getattr(getattr(patches, module), name)), f"patches.{module}.{name}"
        if module == "all_services":
            continue
        assert module in SERVICE_MODULES, module
        assert re.match(rf"(patch|add|set)_{module}_", name), f"{name} is not a {module} patch"


def test_each_module_names_its_patches_with_their_numbers():
    numbers = documented()
    for module, name, _ in applied():
        doc = getattr(patches, module).__doc__
        assert re.search(rf"#{numbers[name]} +{name}$", doc, flags=re.M), f"patches/{module}.py's docstring: {name}"


def test_the_patches_apply_to_the_pinned_moto():
    # A fresh interpreter: applying patches moto's classes for the whole process.
    script = "import patches; patches.apply_patches(ecs_agent=True, agentcore_delay_seconds=0); print('applied')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=EMULATOR, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "applied"
