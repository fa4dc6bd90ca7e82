"""The README's tour, run as written against a served instance with the demo data.

Every ```bash and ```python block of the "A short tour" section runs, command by command,
in one bash session (so ``$TOKEN``, ``$CUSTOMER`` … carry over), against ``omnicx serve``
started the way ``make run`` leaves it: ``omnicx migrate``, ``omnicx demo --if-empty``,
``omnicx serve``, here in a temporary ``OMNICX_HOME`` on a free port. A command that fails
or an answer that changed fails the test, naming the README line.

What the test changes, and why, all of it here:

* ``http://127.0.0.1:8000`` becomes the test server's address (a free port);
* ``curl`` fails on an HTTP error (``--fail-with-body``), so a 4xx is a failure, not output;
* ``.venv`` is the virtualenv running the tests (a link in the temporary home);
* the Python block reads the write key from the session (``"<WRITE_KEY>"`` in the README);
* events are processed a moment after they are acknowledged, and a person reading takes
  longer than that: commands that only read are tried again for up to ``SETTLE`` seconds;
* a block preceded by ``<!-- tour-test: not run: REASON -->`` is not run (``make run``:
  this test serves the instance itself); the reason is required and reported.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live_server import live_server

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
TOUR_HEADING = "## A short tour"
README_URL = "http://127.0.0.1:8000"
NOT_RUN = re.compile(r"<!-- tour-test: not run: (?P<reason>[^>]*\S)\s*-->\s*$")
SETTLE = 30  # seconds a read-only command is retried while the pipeline catches up
# Commands that change nothing: safe to run again until the pipeline has caught up.
READ_ONLY = re.compile(
    r"^(\w+=\$\()?(echo|omnicx (identity (find|merges)|audit list|status)|curl (?!.*\s-d\s))"
)

# What the answers must say (README line → texts in its output): the tour's promises.
EXPECTED = {
    "/customers/lookup?type=phone": ['"name":"张伟"', '"wechat_openid"', "+8613800138000"],
    "/timeline?limit=20": ["WeChat Message Received", "我的发票开好了吗?"],
    'Bearer $AGENT" "': ["+86 138****8000", "z***@example.com"],
    "/reveal": ['"field":"traits.phone","value":"+86 138-0013-8000"'],
    "omnicx audit list --action customer.": ["customer.reveal", "traits.phone"],
    'omnicx identity merges "$CUSTOMER"  ': ["anonymous_id"],
    "omnicx identity unmerge": ["split; new customer(s)"],
    "omnicx privacy erase": ["completed"],
    "omnicx status": ["identity", "consent", "outbox:", "scheduler:"],
    "api/v1/conversations --data-urlencode 'q=发票'": ['"channel":"'],
}


@dataclass
class Command:
    line: int  # where it starts in README.md
    text: str
    language: str


@dataclass
class Block:
    line: int
    language: str
    body: list[tuple[int, str]]
    not_run: str | None


def tour_blocks() -> list[Block]:
    """The fenced blocks of the tour section, in order."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, text in enumerate(lines) if text.strip() == TOUR_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    blocks: list[Block] = []
    i = start + 1
    while i < end:
        fence = re.match(r"^```(\w+)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        marker = NOT_RUN.match(lines[i - 1])
        body = []
        j = i + 1
        while not lines[j].startswith("```"):
            body.append((j + 1, lines[j]))
            j += 1
        blocks.append(
            Block(i + 1, fence.group(1), body, marker.group("reason") if marker else None)
        )
        i = j + 1
    return blocks


def bash_commands(block: Block) -> list[Command]:
    """Split a bash block into commands: continued lines (``\\``) and quotes that span
    lines belong to the command they started in."""
    commands: list[Command] = []
    pending: list[str] = []
    first = 0
    for number, text in block.body:
        if not pending:
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            first = number
        pending.append(text)
        joined = "\n".join(pending)
        if joined.endswith("\\"):
            continue
        try:
            shlex.split(joined, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        commands.append(Command(first, joined, "bash"))
        pending = []
    assert not pending, f"README.md:{first}: unfinished command"
    return commands


def tour_commands() -> tuple[list[Command], list[tuple[int, str]]]:
    """The commands to run, and the blocks not run with their reasons."""
    commands: list[Command] = []
    not_run: list[tuple[int, str]] = []
    for block in tour_blocks():
        if block.not_run is not None:
            not_run.append((block.line, block.not_run))
            continue
        assert block.language in ("bash", "python"), f"README.md:{block.line}: {block.language}"
        if block.language == "bash":
            commands.extend(bash_commands(block))
        else:
            commands.append(
                Command(block.line, "\n".join(text for _, text in block.body), "python")
            )
    return commands, not_run


def as_script_step(index: int, command: Command, url: str) -> str:
    """One command of the tour, followed by a marker line with its exit status."""
    text = command.text.replace(README_URL, url)
    if command.language == "python":
        code = text.replace('"<WRITE_KEY>"', '__import__("os").environ["WRITE_KEY"]')
        assert "<WRITE_KEY>" not in code, "the Python block's write key placeholder changed"
        text = f"WRITE_KEY=\"$WRITE_KEY\" python - <<'TOUR_PYTHON'\n{code}\nTOUR_PYTHON"
    marker = f'printf "\\n@@tour-step {index} rc=%s@@\\n" "$__rc"; [ "$__rc" = 0 ] || exit "$__rc"'
    if READ_ONLY.match(command.text):
        return (
            f"__rc=1\nfor __try in $(seq {SETTLE * 5}); do\n"
            f'  if {{ {text}\n}} >"$__out" 2>&1; then __rc=0; break; else __rc=$?; fi\n'
            f'  sleep 0.2\ndone\ncat "$__out"\n{marker}\n'
        )
    return f"{{ {text}\n}} 2>&1\n__rc=$?\n{marker}\n"


def test_the_blocks_are_found_and_every_command_is_understood():
    commands, not_run = tour_commands()
    assert len(commands) >= 20, [c.text for c in commands]
    assert [reason for _, reason in not_run] and all(reason for _, reason in not_run)
    assert any(c.language == "python" for c in commands)
    for expected in EXPECTED:
        assert any(expected in c.text for c in commands), f"no tour command has {expected!r}"


def test_the_tour_runs_verbatim_on_a_served_instance_with_demo_data(tmp_path):
    commands, not_run = tour_commands()
    home = tmp_path / "home"
    with live_server(home) as server:
        server.stop()  # as make run does: demo data first, then serve
        server.cli("demo", "--if-empty")
        server.start()
        (home / ".venv").symlink_to(Path(sys.executable).parent.parent)
        script = [
            "set -o pipefail",
            'curl() { command curl --silent --show-error --fail-with-body "$@"; }',
            f"__out={shlex.quote(str(tmp_path / 'step.out'))}",
        ]
        script += [as_script_step(i, c, server.url) for i, c in enumerate(commands)]
        (tmp_path / "tour.sh").write_text("\n".join(script), encoding="utf-8")
        done = subprocess.run(
            ["bash", str(tmp_path / "tour.sh")],
            cwd=home,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        outputs = parse_steps(done.stdout)
        for index, command in enumerate(commands):
            where = f"README.md:{command.line}: {command.text.splitlines()[0]}"
            assert index in outputs, (
                f"{where}\nnever finished:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
            )
            output, status = outputs[index]
            assert status == 0, f"{where}\nexit {status}:\n{output}\n{server.log_tail()}"
            for pattern, texts in EXPECTED.items():
                if pattern in command.text:
                    for text in texts:
                        assert text in output, f"{where}\n{text!r} not in:\n{output}"
        customer = outputs[next(i for i, c in enumerate(commands) if c.text == 'echo "$CUSTOMER"')]
        tablet = outputs[
            next(i for i, c in enumerate(commands) if "find anonymous_id tablet-3" in c.text)
        ]
        assert customer[0].strip().isdigit() and customer[0].strip() != "1"
        assert tablet[0].strip().isdigit() and tablet[0].strip() != customer[0].strip()
        with server.api() as api:
            # The demo's activity falls in the analytics' default window.
            summary = api.get("/api/v1/analytics/overview").json()
            assert summary["events"] > 1000, summary
    print("blocks not run:", not_run)


def parse_steps(stdout: str) -> dict[int, tuple[str, int]]:
    """Step index → (its output, its exit status), from the script's marker lines."""
    found: dict[int, tuple[str, int]] = {}
    output: list[str] = []
    for line in stdout.splitlines():
        marker = re.fullmatch(r"@@tour-step (\d+) rc=(\d+)@@", line)
        if marker:
            found[int(marker.group(1))] = ("\n".join(output), int(marker.group(2)))
            output = []
        else:
            output.append(line)
    return found
