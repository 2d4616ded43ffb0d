"""The tutorials' commands, run as written against a live service (issue 29: "the tutorial cannot rot").

Each page's commands (its ```sh blocks, read as tests/unit/test_docs_commands.py reads them) are
run in the page's order, as a reader types them: `make run` (which is `syndication up`) in a
network namespace of its own, so the Redis and ports it uses are its own; every other command
through `sh` at a checkout of symlinks in a temporary folder (a file the page has the reader
write, `partners.yaml`, lands there, never in the real checkout), in up's namespace. A command
the test does not know how to run fails it, so a command added to a page is run too; a
command that fails, or prints other than the page says, goes red.

Placeholders the reader fills in (`whsk_...`, `whpk_...`: what `keys generate` printed) are the
only words changed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.test_promises_up import BASE, NSENTER, UNSHARE, host_env, status, up_in_namespace
from tests.integration.test_quickstart import EXAMPLES, MAKE_RUN, receiver_lines
from tests.support.processes import ROOT, Proc, wait_for
from tests.unit.test_docs_commands import shell_lines

pytestmark = pytest.mark.integration
TUTORIALS = ROOT / "docs" / "tutorials"
SKIPPED = {".git", ".data", "build", "partners.yaml"}  # what the reader's checkout lends the temporary one


def checkout(tmp: Path) -> Path:
    """A checkout for the reader's shell: every entry of the real one, symlinked; files it writes stay here."""
    where = tmp / "checkout"
    where.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in SKIPPED:
            (where / entry.name).symlink_to(entry)
    return where


def yaml_block(page: Path) -> str:
    """The page's ```yaml block (the file it has the reader save)."""
    [block] = re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)
    return block


class Reader:
    """A reader at a shell: the page's exports kept in `env`, commands run in `cwd` inside up's namespace."""

    def __init__(self, cwd: Path, tmp: Path):
        self.cwd, self.tmp = cwd, tmp
        self.env = host_env(SYNDICATION_DATA_DIR=str(tmp / "data"), COLUMNS="160")
        self.filled: dict[str, str] = {}  # placeholder -> what the reader types instead
        self.up: Proc | None = None
        self.others: list[Proc] = []

    def export(self, line: str) -> None:
        name, _, value = line.removeprefix("export ").partition("=")
        self.env[name] = self.fill(value).replace("$PWD", str(self.cwd))

    def fill(self, line: str) -> str:
        for placeholder, value in self.filled.items():
            line = line.replace(placeholder, value)
        assert "..." not in line, f"a placeholder the test does not fill: {line}"
        return line

    def run(self, line: str, ok: int = 0, answer: str | None = None) -> str:
        """`line` through sh; `answer`: what the reader types when it asks."""
        argv = ["sh", "-c", self.fill(line)]
        if self.up is not None:
            argv = [NSENTER, "-t", str(self.up.p.pid), "-n", "--", *argv]
        done = subprocess.run(argv, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=120,
                              input=answer)
        assert done.returncode == ok, f"{line}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def background(self, name: str, line: str, ready: str, elsewhere: bool = False) -> Proc:
        """A command that keeps running (a second terminal), in up's namespace, or `elsewhere`: a
        network namespace of its own (another machine, where a partner would be)."""
        shell = ["sh", "-c", f"ip link set lo up && cd {self.cwd} && exec {self.fill(line)}"]
        argv = [UNSHARE, "-n", "--", *shell] if elsewhere else [NSENTER, "-t", str(self.up.p.pid), "-n", "--", *shell]
        proc = Proc(name, argv, self.env, self.tmp, ready=ready).start(timeout=30)
        self.others.append(proc)
        return proc


def commands(page: str) -> list[str]:
    return shell_lines(TUTORIALS / page)


def run_page(page: str, reader: Reader, steps: dict[str, callable]) -> None:
    """Each command of `page` in order, by the step whose key it starts with (the longest)."""
    lines = commands(page)
    assert lines, f"{page} has no commands"
    for line in lines:
        keys = [k for k in steps if line.startswith(k)]
        assert keys, f"{page}: the test does not know how to run {line!r}: add a step for it"
        steps[max(keys, key=len)](line)


def start_up(reader: Reader, state: dict, name: str, tmp: Path) -> str:
    """The page's `make run`: `syndication up` in a network namespace of its own, until `stop_all`;
    returns what it said starting."""
    argv = [UNSHARE, "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *MAKE_RUN]
    state["up"] = up_in_namespace(name, argv, dict(reader.env), tmp)
    reader.up, _ = state["up"].__enter__()
    return reader.up.log.read_text()


def stop_all(reader: Reader, state: dict) -> None:
    """What the page started: its background commands, then up."""
    for proc in reader.others:
        proc.stop()
    if "up" in state:
        state["up"].__exit__(None, None, None)


def test_the_first_run_tutorial_as_written(tmp_path):
    reader = Reader(checkout(tmp_path), tmp_path)
    assert commands("first-run.md")[0] == "make run"
    argv = [UNSHARE, "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *MAKE_RUN]
    with up_in_namespace("tutorial-first-run", argv, reader.env, tmp_path) as (up, ns):
        reader.up = up
        aids = {json.loads(p.read_text())["article"]["id"] for p in EXAMPLES}

        published = []

        def publish(line):
            # The first time each file is accepted; again, each is a repeated event_id (the page says so).
            said = "200 already accepted" if published else "202 accepted"
            assert reader.run(line).count(said) == len(EXAMPLES)
            published.append(line)
            # "In the first terminal a `receiver` line per push says `signature ok`."
            wait_for(lambda: {a for a in aids for r in receiver_lines(up.log) if f" {a} v" in r and "signature ok" in r}
                     == aids, timeout=60, what="a signed push of every example at the demo receiver")

        def rss(line):
            out = reader.run(line)
            assert out.startswith("<?xml") and "<rss" in out, out

        def feeds(line):
            assert "all" in {f["name"] for f in json.loads(reader.run(line))["feeds"]}

        def article(line):
            assert json.loads(reader.run(line))["id"] == line.rpartition("/")[2]

        def show(line):
            out = wait_for(lambda: (o := reader.run(line)) and "delivered" in o and o, timeout=30,
                           what="deliveries show: delivered")
            assert "demo" in out, out

        def listed(line):
            assert [(d["partner"], d["status"]) for d in json.loads(reader.run(line))["deliveries"]] == \
                [("demo", "delivered")]

        def make_test(line):  # the whole suite cannot run inside one of its tests: make knows the target
            reader.run(f"make -n -o .venv/.installed {line.removeprefix('make ')}")

        def reset(line):
            out = reader.run(line, answer="y\n")
            assert "deleted" in out and "prefix: synd:" in out, out

        def receiver(line):  # "where a partner would be": another machine, a namespace of its own
            reader.background("tutorial-partner-receiver", line, ready="listening on", elsewhere=True).stop()

        def post(line):
            assert "accepted" in reader.run(line)

        reader.filled["whsec_..."] = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        run_page("first-run.md", reader, {
            "make run": lambda line: None,  # the service this test started, as the page says
            "make test": make_test,
            ".venv/bin/syndication publish examples/events/": publish,
            "curl -s http://127.0.0.1:8000/feeds/all.rss": rss,
            "curl -s -H 'Authorization: Bearer local-feed-key' http://127.0.0.1:8000/feeds/partners-full.rss": rss,
            "curl -s http://127.0.0.1:8000/feeds": feeds,
            "curl -s http://127.0.0.1:8000/v1/articles/": article,
            ".venv/bin/syndication deliveries show ": show,
            "curl -s -H 'Authorization: Bearer local-ops-key' 'http://127.0.0.1:8000/v1/deliveries?": listed,
            ".venv/bin/syndication reset": reset,
            "export ": reader.export,
            ".venv/bin/syndication receiver ": receiver,
            "curl -s -X POST http://127.0.0.1:8000/v1/events": post,
        })


def test_the_connect_your_first_partner_tutorial_as_written(tmp_path):
    page = TUTORIALS / "first-partner.md"
    reader = Reader(checkout(tmp_path), tmp_path)
    english = {json.loads(p.read_text())["article"]["id"] for p in EXAMPLES
               if json.loads(p.read_text())["article"].get("language") == "en"}
    others = {json.loads(p.read_text())["article"]["id"] for p in EXAMPLES} - english
    assert english and others, "the examples must have stories the partner's filter takes, and some it does not"
    state: dict = {}

    def keys(line):
        out = reader.run(line)
        reader.filled["whsk_..."] = re.search(r"whsk_\S+", out).group(0)
        reader.filled["whpk_..."] = state["public"] = re.search(r"whpk_\S+", out).group(0)

    def export(line):
        if line.startswith("export SYNDICATION_PARTNERS_FILE="):  # the file the page had the reader save
            (reader.cwd / "partners.yaml").write_text(yaml_block(page))
        reader.export(line)

    def check(line):
        out = reader.run(line)
        assert re.search(r"first-partner: ninjs -> http://127.0.0.1:8010/first-partner/ingest \[standard-webhooks\].* ok",
                         out), out

    def make_run(line):
        said = start_up(reader, state, "tutorial-first-partner", tmp_path)
        assert "receiver" not in said, "a partners file is set: make run starts no demo receiver"

    def receiver(line):
        state["receiver"] = reader.background("tutorial-receiver", line, ready="listening on")

    def publish(line):
        assert reader.run(line).count("202 accepted") == len(EXAMPLES)

        def verified() -> set[str]:
            log = state["receiver"].log.read_text()
            return {a for a in english if re.search(rf" {re.escape(a)} v\d.*signature ok", log)}
        wait_for(lambda: verified() == english, timeout=60, what="every English story pushed and verified")

    def show(line):
        out = wait_for(lambda: (o := reader.run(line)) and "delivered" in o and o, timeout=30,
                       what="deliveries show: delivered")
        assert "first-partner" in out, out
        for aid in others:  # filtered out: no delivery was ever created
            assert "no deliveries" in reader.run(f".venv/bin/syndication deliveries show {aid}")

    def pause(line):
        reader.run(line)
        assert reader.run(".venv/bin/syndication status --json") and paused() is True

    def resume(line):
        reader.run(line)
        assert paused() is False

    def paused():
        out = json.loads(reader.run(".venv/bin/syndication status --json"))
        return next(p for p in out["partners"] if p["id"] == "first-partner")["paused"]

    def backfill(line):  # everything English was delivered: nothing missed, nothing created by the dry run
        out = reader.run(line)
        assert re.search(r"first-partner: [1-9]\d* matched, would create 0", out), out

    def show_partner(line):
        assert state["public"] in reader.run(line)

    def reload(line):
        # The edit the page asks for: the partner's https:// URL in `url`, allow_private_network deleted.
        file = reader.cwd / "partners.yaml"
        partners = yaml.safe_load(file.read_text())
        partners["partners"][0]["url"] = "https://first-partner.example/ingest"
        del partners["partners"][0]["allow_private_network"]
        file.write_text(yaml.safe_dump(partners))
        out = reader.run(line)
        assert "changed: first-partner" in out and "applied by all" in out, out

    try:
        run_page("first-partner.md", reader, {
            ".venv/bin/syndication keys generate": keys,
            "export ": export,
            ".venv/bin/syndication config check": check,
            "make run": make_run,
            ".venv/bin/syndication receiver ": receiver,
            ".venv/bin/syndication publish ": publish,
            ".venv/bin/syndication deliveries show ": show,
            ".venv/bin/syndication partners pause ": pause,
            ".venv/bin/syndication partners resume ": resume,
            ".venv/bin/syndication partners backfill ": backfill,
            ".venv/bin/syndication partners show ": show_partner,
            ".venv/bin/syndication partners reload": reload,
        })
        assert {"up", "receiver"} <= set(state), "the page no longer starts the service and the stand-in"
    finally:
        stop_all(reader, state)


def test_the_websub_tutorial_as_written(tmp_path):
    """'From RSS polling to WebSub': subscribe the receiver (--websub) to our own hub, see it verified,
    receive the feed signed with its secret, see it in status and websub list, unsubscribe, see it ended."""
    reader = Reader(checkout(tmp_path), tmp_path)
    topic, state = "http://127.0.0.1:8000/feeds/all.atom", {}

    def said() -> str:
        return state["subscriber"].log.read_text()

    def make_run(line):
        assert "WebSub subscribers call back on 127.0.0.1" in start_up(reader, state, "tutorial-websub", tmp_path)

    def subscriber(line):
        state["subscriber"] = reader.background("tutorial-websub-subscriber", line, ready="listening on")

    def hub_request(line):
        assert reader.run(line).startswith("HTTP/1.1 202 Accepted")
        mode = "unsubscribe" if "hub.mode=unsubscribe" in line else "subscribe"
        wait_for(lambda: f"verification {mode} {topic}" in said(), timeout=30, what=f"the {mode} verified")
        if mode == "subscribe":
            assert f"verification subscribe {topic}, lease 3600 s: answered with the challenge" in said()

    def publish(line):
        assert reader.run(line).count("202 accepted") == len(EXAMPLES)
        wait_for(lambda: re.search(rf"feed {re.escape(topic)}  application/atom\+xml  \d+ bytes  signature ok",
                                   said()), timeout=60, what="the feed pushed to the subscriber, signature ok")
        assert "BAD" not in said()

    def status_text(line):
        assert f"{topic}: 1 active, 0 unverified" in reader.run(line)

    def listed(line):
        out = reader.run(line)
        if "--ended" in line:
            assert re.search(r"ws-\w+\t\S*\t" + re.escape(topic) + r"\thttp://127.0.0.1:8020/cb/tutorial\t.*\tunsubscribed",
                             out), out
        else:
            assert re.search(r"ws-\w+\tactive\t" + re.escape(topic) + r"\thttp://127.0.0.1:8020/cb/tutorial\t", out), out
            assert "a-secret-under-200-bytes" not in out

    try:
        run_page("websub.md", reader, {
            "make run": make_run,
            "export ": reader.export,
            ".venv/bin/syndication receiver --websub ": subscriber,
            "curl -si http://127.0.0.1:8000/websub ": hub_request,
            ".venv/bin/syndication publish ": publish,
            ".venv/bin/syndication status": status_text,
            ".venv/bin/syndication websub list": listed,
        })
        assert {"up", "subscriber"} <= set(state), "the page no longer starts the service and the subscriber"
    finally:
        stop_all(reader, state)
