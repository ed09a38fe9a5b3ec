# A hostile control-interface client without any SDK, inside an ankmq workload: it speaks the
# wire format by hand (varint length + protobuf), and prints what the agent answers for
# tests/system/control_interface.rs: a Hello of another major and a garbage version (closed with
# a reason), a valid Hello (accepted), then 1 MiB of random bytes, then Hellos until accepted again.
import os
import select
import time

BASE = "/run/ankaios/control_interface"
ACCEPTED = b"\x02\x22\x00"  # FromAnkaios{controlInterfaceAccepted{}} as a frame


def frame(message):
    assert len(message) < 128
    return bytes([len(message)]) + message


def hello(version):
    v = version.encode()
    inner = b"\x12" + bytes([len(v)]) + v  # Hello.protocolVersion = 2
    return frame(b"\x0a" + bytes([len(inner)]) + inner)  # ToAnkaios.hello = 1


def say(*parts):
    print(*parts, flush=True)


out = open(BASE + "/output", "wb", buffering=0)
out.write(hello("0.7.0"))
inp = os.open(BASE + "/input", os.O_RDONLY)


def read_for(seconds):
    data = b""
    deadline = time.time() + seconds
    while time.time() < deadline:
        ready, _, _ = select.select([inp], [], [], 0.1)
        if ready:
            chunk = os.read(inp, 65536)
            if chunk:
                data += chunk
                continue
        if data:
            break
    return data


def reason(data):
    return data[data.find(b"Unsupported"):].decode(errors="replace")


say("closed:", reason(read_for(5)))
out.write(hello("garbage"))
say("closed:", reason(read_for(5)))
out.write(hello("1.0.0"))
say("accepted" if ACCEPTED in read_for(5) else "not-accepted")
out.write(os.urandom(1024 * 1024))
say("garbage-sent")
read_for(1)
deadline = time.time() + 60
while time.time() < deadline:
    out.write(hello("1.0.0"))
    if ACCEPTED in read_for(1):
        say("reaccepted")
        break
while True:
    time.sleep(3600)
