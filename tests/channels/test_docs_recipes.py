"""The recipes in docs/channels.md, run as written: the signed-user hash (Python, and Node
if it is installed) the server accepts, and the phone webhook's signature (Python, and the
shell's openssl and curl against a live server) that the CTI webhook takes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from omnicx.channels.webchat.signatures import user_vouched
from tests.channels.phone_helpers import call, call_id, create_phone
from tests.live_server import live_server_on

DOC = Path(__file__).resolve().parents[2] / "docs" / "channels.md"
SECRET, USER = "f" * 64, "crm-张伟-1001"


def _recipe(language: str) -> str:
    found = re.search(
        rf"<!-- recipe: {language} -->\n```\w+\n(.*?)```", DOC.read_text("utf-8"), re.S
    )
    assert found, f"no {language} recipe in {DOC}"
    return found.group(1)


def test_the_python_recipe_signs_what_the_server_checks():
    scope: dict[str, object] = {}
    exec(_recipe("python"), scope)
    signed = scope["user_hash"](SECRET, USER)  # type: ignore[operator]
    assert user_vouched(SECRET, USER, signed)


def test_the_node_recipe_signs_what_the_server_checks():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    program = (
        _recipe("node")
        + f"\nprocess.stdout.write(userHash({json.dumps(SECRET)}, {json.dumps(USER)}))\n"
    )
    signed = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True)
    assert user_vouched(SECRET, USER, signed.stdout)


def test_the_phone_python_recipe_signs_what_the_webhook_takes(client, db):
    phone = create_phone(db)
    scope: dict[str, object] = {}
    exec(_recipe("phone-python"), scope)
    body = json.dumps(call("ringing", call_id())).encode()
    headers = scope["cti_headers"](phone.secret, body)  # type: ignore[operator]
    answer = client.post(phone.path, content=body, headers=headers)
    assert answer.status_code == 200, answer.text


@pytest.mark.slow
def test_the_phone_shell_recipe_posts_a_call_the_server_takes(tmp_path):
    for tool in ("openssl", "curl", "bash"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    with live_server_on("sqlite", tmp_path) as server:
        printed = server.cli("channels", "create", "phone", "--name", "400热线").splitlines()
        url = server.url + "/phone/cti/" + printed[1].rsplit("/", 1)[1]
        env = {"URL": url, "SECRET": printed[3], "PATH": os.environ["PATH"]}
        done = subprocess.run(
            ["bash", "-c", _recipe("phone-shell")], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"message_id": "call-1733570000.42-ringing"}
