// A workload's logs on request, with the protocol of schemas/src/payloads/logs.rs: subscribe to
// our own stream topic, publish an `open` request naming the instance, renew a `follow` lease
// every 3 s, `cancel` when the view closes. The client id is bound to the login (`<user>.<x>`),
// so the broker lets only us read the stream. Lines are bounded in number and length.

import { LIMITS, decodeJson, text } from './model.js';

/** How often a following client renews (LOG_RENEW_INTERVAL). */
const RENEW_MS = 3000;
/** How long to wait for `accepted` or `refused` before saying nobody answered. */
const ANSWER_MS = 5000;

let counter = 0;

export class LogSession {
  constructor(conn, agent, instanceId, { follow, tail }, onChange) {
    counter += 1;
    this.id = `d${counter}${Math.random().toString(36).slice(2, 8)}`.replace(/[^A-Za-z0-9]/g, '');
    this.conn = conn;
    this.agent = agent;
    this.instanceId = instanceId;
    this.follow = follow;
    this.tail = tail;
    this.onChange = onChange;
    this.lines = [];
    this.cut = 0;
    this.status = 'asking the agent…';
    this.ended = false;
    this.topic = `${conn.prefix}/agents/${agent}/logs/${conn.clientId}`;
    this.requests = `${conn.prefix}/agents/${agent}/logs/requests`;
  }

  start() {
    this.conn.client.subscribe(this.topic, { qos: 1 }, (err, granted) => {
      if (this.ended) return;
      if (err || !granted?.length || granted[0].qos === 128) {
        this.finish('the broker refused the log stream to this identity');
        return;
      }
      this.send({ op: 'open', instanceIds: [this.instanceId], follow: this.follow, tail: this.tail });
      this.answerTimer = setTimeout(() => {
        if (!this.accepted && !this.ended) this.finish('no answer: the agent is offline, or this identity may not ask for logs');
      }, ANSWER_MS);
      if (this.follow) this.renewTimer = setInterval(() => this.send({ op: 'renew' }), RENEW_MS);
    });
  }

  send(fields) {
    const body = JSON.stringify({ id: this.id, clientId: this.conn.clientId, ...fields });
    this.conn.client.publish(this.requests, body, { qos: 1 });
  }

  /** One message of our stream topic; anything not about this request is ignored. */
  handle(bytes) {
    const json = decodeJson(bytes);
    if (json.error || this.ended) return;
    const e = json.value;
    if (e.requestId !== undefined && e.requestId !== this.id) return;
    switch (e.event) {
      case 'accepted':
        this.accepted = true;
        this.status = this.follow ? 'following' : 'reading';
        break;
      case 'refused':
        this.finish(`refused: ${text(e.message, 200)}`);
        return;
      case 'line':
        if (e.instanceId !== this.instanceId || typeof e.line !== 'string') return;
        this.lines.push(text(e.line, LIMITS.logLineChars));
        if (this.lines.length > LIMITS.logLines) {
          this.lines.shift();
          this.cut += 1;
        }
        break;
      case 'error':
        this.status = `error: ${text(e.message, 200)}`;
        break;
      case 'stopped':
        this.finish(`ended (${text(e.reason, 32) || 'stopped'})`);
        return;
      default:
        return;
    }
    this.onChange();
  }

  finish(status) {
    this.status = status;
    this.close(false);
    this.onChange();
  }

  /** Ends the request (cancelling it at the agent unless it already ended) and the timers. */
  close(cancel = true) {
    if (cancel && !this.ended && this.accepted) this.send({ op: 'cancel' });
    this.ended = true;
    clearTimeout(this.answerTimer);
    clearInterval(this.renewTimer);
    this.conn.client.unsubscribe(this.topic);
  }
}
