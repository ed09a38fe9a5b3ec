"""A third-party MQTT 3.1.1 client (paho-mqtt 2.x) publishes at QoS 1 to a topic its ACL refuses,
then uses the same connection for allowed topics (issue 14, point 7).

Usage: refused_publish.py HOST PORT USER PASSWORD CLIENT_ID REFUSED_TOPIC ALLOWED_TOPIC READ_FILTER

Prints one `key=value` line per finding and exits 0; the Rust test asserts on the findings. Every
wait polls an event against a deadline. Exits 2 on a usage or import problem.
"""

import sys
import threading

try:
    import paho.mqtt.client as mqtt
except ImportError as e:  # the Rust side names ANK_TEST_PYTHONPATH in its message
    print(f"error=cannot import paho-mqtt: {e}", flush=True)
    sys.exit(2)

WAIT = 10.0


def main():
    if len(sys.argv) != 9:
        print("error=usage: HOST PORT USER PASSWORD CLIENT_ID REFUSED ALLOWED READ_FILTER")
        sys.exit(2)
    host, port, user, password, client_id, refused, allowed, read_filter = sys.argv[1:]
    connected = threading.Event()
    subscribed = threading.Event()
    acked = {}
    received = []
    got_allowed = threading.Event()
    disconnects = []

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.username_pw_set(user, password)

    def on_connect(_c, _u, _flags, reason, _props):
        print(f"connack={reason}", flush=True)
        if not reason.is_failure:
            connected.set()

    def on_disconnect(_c, _u, _flags, reason, _props):
        disconnects.append(str(reason))

    def on_subscribe(_c, _u, _mid, reasons, _props):
        print("suback=" + ",".join(str(r) for r in reasons), flush=True)
        subscribed.set()

    def on_publish(_c, _u, mid, _reason, _props):
        acked.setdefault(mid, threading.Event()).set()

    def on_message(_c, _u, msg):
        received.append(msg.topic)
        if msg.topic == allowed:
            got_allowed.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    try:
        print(f"connected={connected.wait(WAIT)}", flush=True)
        client.subscribe(read_filter, qos=1)
        print(f"subscribed={subscribed.wait(WAIT)}", flush=True)

        def publish(topic, payload):
            info = client.publish(topic, payload, qos=1)
            event = acked.setdefault(info.mid, threading.Event())
            return event.wait(WAIT)

        print(f"refused_acked={publish(refused, b'forged')}", flush=True)
        print(f"allowed_acked={publish(allowed, b'alive')}", flush=True)
        print(f"allowed_received={got_allowed.wait(WAIT)}", flush=True)
        print(f"refused_received={refused in received}", flush=True)
        print(f"disconnects={len(disconnects)} {';'.join(disconnects)}", flush=True)
    finally:
        client.loop_stop()
        client.disconnect()


if __name__ == "__main__":
    main()
