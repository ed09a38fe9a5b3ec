# Runs inside an ankmq workload with the unchanged Ankaios Python SDK (ankaios-sdk 1.0.1): events
# pushed by the controller. Subscribes to workload `evhelper`, applies it (an event adding it),
# cancels, subscribes again and deletes it (an event removing it, only on the second
# subscription). Prints "STEP <name> ok|FAIL <detail>" for tests/system/control_interface/mod.rs.
import os
import time

from ankaios_sdk import Ankaios, Workload

agent = os.environ["HELPER_AGENT"]
image = os.environ["HELPER_IMAGE"]
mask = "desiredState.workloads.evhelper"


def say(*parts):
    print(*parts, flush=True)


def step(name, fn):
    try:
        detail = fn()
        say("STEP", name, "ok", detail if detail is not None else "")
        return detail
    except Exception as e:  # the test reads the failure from the log
        say("STEP", name, "FAIL", type(e).__name__, e)
        raise


def next_event(queue, want):
    deadline = time.time() + 30
    while time.time() < deadline:
        entry = queue.get(timeout=30)
        fields = getattr(entry, want)
        if fields:
            return sorted(fields)
    raise AssertionError(f"no event with {want}")


helper = (
    Workload.builder()
    .workload_name("evhelper")
    .agent_name(agent)
    .runtime("podman")
    .restart_policy("NEVER")
    .runtime_config(f"image: {image}\ncommandArgs: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n")
    .build()
)

with Ankaios() as ank:
    say("STEP connect ok")
    try:
        first = step("subscribe", lambda: ank.register_event([mask]))
        step("apply", lambda: ank.apply_workload(helper).added_workloads and None)
        step("added_event", lambda: next_event(first, "added_fields"))
        step("cancel", lambda: ank.unregister_event(first))
        second = step("subscribe_again", lambda: ank.register_event([mask]))
        step("delete", lambda: ank.delete_workload("evhelper").deleted_workloads and None)
        step("removed_event", lambda: next_event(second, "removed_fields"))
        step("cancel_again", lambda: ank.unregister_event(second))
        say("STEPS done")
    except Exception:
        pass
    while True:
        time.sleep(1)
