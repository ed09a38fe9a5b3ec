# Runs inside an ankmq workload with the unchanged Ankaios Python SDK (ankaios-sdk 1.0.1), as an
# SDK app would, and prints one line per step for tests/system/control_interface.rs to read:
# "STEP <name> ok <detail>" or "STEP <name> FAIL <detail>", then "ALIVE <n> ok|err" every half
# second until it is stopped (the agent-restart scenario watches those).
import os
import time

from ankaios_sdk import (
    Ankaios,
    AnkaiosException,
    AnkaiosResponseError,
    Workload,
    WorkloadStateEnum,
)


def name(i):
    return f"{i.workload_name}.{i.workload_id}.{i.agent_name}"


def say(*parts):
    print(*parts, flush=True)


def step(name, fn):
    try:
        detail = fn()
        say("STEP", name, "ok", detail if detail is not None else "")
        return detail
    except Exception as e:  # the test reads the failure from the log
        say("STEP", name, "FAIL", type(e).__name__, e)
        return None


def refused(fn):
    def run():
        try:
            fn()
        except AnkaiosResponseError as e:
            if "Access denied" in str(e):
                return str(e)
            raise
        raise AssertionError("accepted")
    return run


agent = os.environ["HELPER_AGENT"]
image = os.environ["HELPER_IMAGE"]
helper_config = (
    f"image: {image}\n"
    "commandArgs: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do echo helper-says-hi; sleep 0.3; done\"]\n"
)


def helper(name):
    return (
        Workload.builder()
        .workload_name(name)
        .agent_name(agent)
        .runtime("podman")
        .restart_policy("NEVER")
        .runtime_config(helper_config)
        .build()
    )


with Ankaios() as ank:
    say("STEP connect ok")
    step("get_state", lambda: sorted(ank.get_state(["workloadStates"]).get_workload_states().get_as_dict().keys()))
    step("apply", lambda: [name(i) for i in ank.apply_workload(helper("helper")).added_workloads])

    def running():
        deadline = time.time() + 60
        while time.time() < deadline:
            states = ank.get_workload_states_for_name("helper").get_as_list()
            if states:
                instance = states[0].workload_instance_name
                ank.wait_for_workload_to_reach_state(instance, WorkloadStateEnum.RUNNING, timeout=60)
                return name(instance)
            time.sleep(0.2)
        raise AssertionError("no state for helper")

    instance = step("running", running)

    def test_looked():
        # The test looks at the helper's container in podman, then creates this file.
        deadline = time.time() + 60
        while not os.path.exists("/opt/probe/continue"):
            if time.time() > deadline:
                raise AssertionError("the test never said continue")
            time.sleep(0.1)

    step("test_looked", test_looked)
    step("see_state", lambda: str(ank.get_workload_states_for_name("helper").get_as_list()[0].execution_state.state))
    def logs():
        instance = ank.get_workload_states_for_name("helper").get_as_list()[0].workload_instance_name
        # follow: the SDK registers its log callback only after the acceptance, so entries that
        # come at once may be dropped by the SDK itself (reference/control-interface.md §1.5).
        campaign = ank.request_logs([instance], follow=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            entry = campaign.queue.get(timeout=30)
            if "helper-says-hi" in str(entry):
                ank.stop_receiving_logs(campaign)
                return str(entry)
        raise AssertionError("no log line of the helper")

    step("logs", logs)
    step("refused_logs", refused(lambda: ank.request_logs(
        [ank.get_workload_states_for_name("sdkapp").get_as_list()[0].workload_instance_name])))
    step("refused_write", refused(lambda: ank.apply_workload(helper("forbidden"))))
    step("refused_read", refused(lambda: ank.get_state(["desiredState.configs"])))
    events = step("register_event", lambda: ank.register_event(["desiredState.workloads.helper"]))
    if events is not None:
        step("first_event", lambda: events.get(timeout=10).complete_state is not None)
    step("delete", lambda: [name(i) for i in ank.delete_workload("helper").deleted_workloads])
    if events is not None:
        def removal():
            deadline = time.time() + 20
            while time.time() < deadline:
                entry = events.get(timeout=20)
                if entry.removed_fields:
                    return entry.removed_fields
            raise AssertionError("no removal event")
        step("delete_event", removal)
        step("unregister_event", lambda: ank.unregister_event(events))
    say("STEPS done")
    n = 0
    while True:
        try:
            ank.get_state(["workloadStates"])
            say("ALIVE", n, "ok")
        except (AnkaiosException, TimeoutError, Exception) as e:
            say("ALIVE", n, "err", type(e).__name__)
        n += 1
        time.sleep(0.5)
