# Runs inside a podman-kube pod with the unchanged Ankaios Python SDK (ankaios-sdk 1.0.1): connects
# over the FIFOs injected into its container and reads the workload states. Prints
# "STEP <name> ok|FAIL <detail>" for tests/system/control_interface/mod.rs.
import time

from ankaios_sdk import Ankaios

with Ankaios() as ank:
    print("STEP connect ok", flush=True)
    try:
        names = sorted(ank.get_state(["workloadStates"]).get_workload_states().get_as_dict().keys())
        print("STEP get_state ok", names, flush=True)
    except Exception as e:
        print("STEP get_state FAIL", type(e).__name__, e, flush=True)
    print("STEPS done", flush=True)
    while True:
        time.sleep(1)
