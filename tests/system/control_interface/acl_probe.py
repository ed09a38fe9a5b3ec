# Plays one agent identity on a broker under the generated ACL (issue 15): publishes REQUEST on
# TOPIC, then, on the same connection, a getState on the identity's own request topic as a
# barrier, and waits for the controller's answer to the barrier. MQTT keeps one client's QoS 1
# messages in order, so once the barrier is answered the controller has handled REQUEST too,
# if the broker passed it on. Prints every answer the controller sent to this client, one JSON
# per line, then "BARRIER answered".
# Usage: acl_probe.py PORT PREFIX AGENT PASSWORD TOPIC REQUEST_JSON
import json
import sys
import threading

import paho.mqtt.client as mqtt

port, prefix, agent, password, topic, request = sys.argv[1:7]
user = f"agent-{agent}"
client_id = f"{user}.probe"
answers = []
done = threading.Event()
subscribed = threading.Event()


def on_message(_client, _userdata, message):
    text = message.payload.decode("utf-8", "replace")
    answers.append(text)
    if json.loads(text).get("id") == "barrier":
        done.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
client.username_pw_set(user, password)
client.on_message = on_message
client.on_subscribe = lambda *_: subscribed.set()
client.connect("127.0.0.1", int(port))
client.loop_start()
client.subscribe(f"{prefix}/responses/{client_id}", qos=1)
if not subscribed.wait(10):
    sys.exit("no SUBACK")
client.publish(topic, request, qos=1).wait_for_publish(10)
barrier = {"id": "barrier", "replyTo": client_id, "op": "getState", "onBehalfOf": "nobody"}
client.publish(f"{prefix}/agents/{agent}/requests", json.dumps(barrier), qos=1).wait_for_publish(10)
if not done.wait(20):
    sys.exit("the barrier was never answered")
for answer in answers:
    print(answer)
print("BARRIER answered", flush=True)
client.loop_stop()
