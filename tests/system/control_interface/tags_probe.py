# Runs inside an ankmq workload with the unchanged Ankaios Python SDK (ankaios-sdk 1.0.1): sets
# the tags of agent TAG_AGENT (allowed by its rules), reads them back, and is refused the tags of
# OTHER_AGENT. Prints "STEP <name> ok|FAIL <detail>" for tests/system/control_interface/mod.rs.
import os
import time

from ankaios_sdk import Ankaios, AnkaiosResponseError

me = os.environ["TAG_AGENT"]
other = os.environ["OTHER_AGENT"]


def say(*parts):
    print(*parts, flush=True)


def step(name, fn):
    try:
        detail = fn()
        say("STEP", name, "ok", detail if detail is not None else "")
    except Exception as e:  # the test reads the failure from the log
        say("STEP", name, "FAIL", type(e).__name__, e)


def read_back():
    deadline = time.time() + 30
    while time.time() < deadline:
        tags = ank.get_agent(me).tags
        if tags.get("owner") == "fleet":
            return sorted(tags.items())
        time.sleep(0.2)
    raise AssertionError(f"the tags stayed {ank.get_agent(me).tags}")


def refused():
    try:
        ank.set_agent_tags(other, {"owner": "mallory"})
    except AnkaiosResponseError as e:
        if "Access denied" in str(e):
            return str(e)
        raise
    raise AssertionError("accepted")


with Ankaios() as ank:
    say("STEP connect ok")
    step("set_tags", lambda: ank.set_agent_tags(me, {"owner": "fleet", "slot": "2"}))
    step("read_tags", read_back)
    step("refused_tags", refused)
    say("STEPS done")
    while True:
        time.sleep(1)
