// External Pusher clients against the real saluran hub: pusher-js,
// laravel-echo and the `pusher` server SDK, exactly as a PMS would use them.
//
// Driven by tests/js_clients.rs, which starts the app, seeds the properties
// and passes everything through the environment:
//   SALURAN_JS_BASE        http://127.0.0.1:PORT
//   SALURAN_JS_APP_ID / SALURAN_JS_KEY / SALURAN_JS_SECRET
//   SALURAN_JS_PROP        a property the tokens below reach (PROP)
//   SALURAN_JS_OTHER       another property (OTHER)
//   SALURAN_JS_ADMIN       admin token (all properties)
//   SALURAN_JS_RM          revenue-manager token for PROP only
//   SALURAN_JS_HK1/HK2     two housekeeping tokens for PROP (two presence users)
//   SALURAN_JS_DAYS        JSON array of free check-in dates (YYYY-MM-DD)
// Every wait is bounded; only 127.0.0.1 is contacted.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import PusherJs from 'pusher-js';
import Echo from 'laravel-echo';
import PusherServer from 'pusher';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through cargo test --test js_clients)`);
  return v;
};
const BASE = env('SALURAN_JS_BASE');
const { hostname: HOST, port: PORT_S } = new URL(BASE);
const PORT = Number(PORT_S);
const APP_ID = env('SALURAN_JS_APP_ID');
const KEY = env('SALURAN_JS_KEY');
const SECRET = env('SALURAN_JS_SECRET');
const PROP = env('SALURAN_JS_PROP');
const OTHER = env('SALURAN_JS_OTHER');
const ADMIN = env('SALURAN_JS_ADMIN');
const RM = env('SALURAN_JS_RM');
const HK1 = env('SALURAN_JS_HK1');
const HK2 = env('SALURAN_JS_HK2');
const DAYS = JSON.parse(env('SALURAN_JS_DAYS'));
const AUTH_URL = `${BASE}/api/v1/realtime/auth`;
const WAIT_MS = 10_000;

assert.equal(HOST, '127.0.0.1', 'loopback only');

// ---------------------------------------------------------------- helpers

/** `promise`, or a rejection naming `what` after `ms`. */
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every client a test makes is disconnected after it, so tests don't see
// each other's presence members.
const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) {
    try {
      c.disconnect();
    } catch {
      /* already gone */
    }
  }
});

function pusherOptions(token) {
  return {
    cluster: 'mt1',
    wsHost: HOST,
    wsPort: PORT,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      endpoint: AUTH_URL,
      transport: 'ajax',
      headers: { Authorization: `Bearer ${token}` },
    },
  };
}

/** A connected pusher-js client authorizing with `token`. */
async function pusherClient(token) {
  const p = new PusherJs(KEY, pusherOptions(token));
  clients.push(p);
  await within(
    new Promise((resolve, reject) => {
      p.connection.bind('connected', resolve);
      p.connection.bind('failed', () => reject(new Error('pusher-js: connection failed')));
      p.connection.bind('unavailable', () => reject(new Error('pusher-js: connection unavailable')));
    }),
    'pusher-js connected',
  );
  return p;
}

/** The first `event` on `channel` (a pusher-js Channel). */
function next(channel, event, ms = WAIT_MS) {
  return within(
    new Promise((resolve) => {
      const cb = (data, meta) => {
        channel.unbind(event, cb);
        resolve({ data, meta });
      };
      channel.bind(event, cb);
    }),
    `${event} on ${channel.name}`,
    ms,
  );
}

/** Subscribe and wait for success (or throw with the error). */
async function subscribed(p, name) {
  const ch = p.subscribe(name);
  const outcome = await within(
    new Promise((resolve) => {
      ch.bind('pusher:subscription_succeeded', (d) => resolve({ ok: true, d }));
      ch.bind('pusher:subscription_error', (e) => resolve({ ok: false, e }));
    }),
    `subscription to ${name}`,
  );
  if (!outcome.ok) throw new Error(`subscription to ${name} refused: ${JSON.stringify(outcome.e)}`);
  return { ch, data: outcome.d };
}

/** Subscribe, expecting a refusal; returns the subscription_error payload. */
async function refused(p, name) {
  const ch = p.subscribe(name);
  return within(
    new Promise((resolve, reject) => {
      ch.bind('pusher:subscription_succeeded', () => reject(new Error(`${name} was NOT refused`)));
      ch.bind('pusher:subscription_error', resolve);
    }),
    `refusal of ${name}`,
  );
}

function sdk(secret = SECRET) {
  return new PusherServer({ appId: APP_ID, key: KEY, secret, host: HOST, port: PORT, useTLS: false });
}

let dayIdx = 0;
/** Book a room through saluran's own HTTP API (the hub then publishes booking.created). */
async function book() {
  const from = DAYS[dayIdx++];
  const to = new Date(Date.parse(`${from}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const r = await within(
    fetch(`${BASE}/api/v1/properties/${PROP}/reservations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({
        room_type: 'STD',
        rate_plan: 'STD-BAR',
        check_in: from,
        check_out: to,
        adults: 2,
        guest: { name: 'Budi Santoso' },
      }),
    }),
    'POST reservations',
  );
  const body = await r.json();
  assert.equal(r.status, 201, `booking: ${JSON.stringify(body)}`);
  return body;
}

const bookings = `private-property.${PROP}.bookings`;
const presence = `presence-property.${PROP}.housekeeping`;

// ---------------------------------------------------------------- pusher-js

test('pusher-js: public channel gets events from the pusher SDK (trigger and triggerBatch)', async () => {
  const p = await pusherClient(ADMIN);
  const { ch } = await subscribed(p, 'js-public');
  const got = next(ch, 'js.hello');
  const r = await within(sdk().trigger('js-public', 'js.hello', { n: 1 }), 'SDK trigger');
  assert.equal(r.status, 200);
  assert.deepEqual((await got).data, { n: 1 });

  const a = next(ch, 'js.batch.a');
  const b = next(ch, 'js.batch.b');
  const rb = await within(
    sdk().triggerBatch([
      { channel: 'js-public', name: 'js.batch.a', data: { n: 'a' } },
      { channel: 'js-public', name: 'js.batch.b', data: JSON.stringify({ n: 'b' }) },
    ]),
    'SDK triggerBatch',
  );
  assert.equal(rb.status, 200);
  assert.deepEqual((await a).data, { n: 'a' });
  assert.deepEqual((await b).data, { n: 'b' });
});

test('pusher-js: private bookings channel gets booking.created from the hub and SDK events', async () => {
  const p = await pusherClient(ADMIN);
  const { ch } = await subscribed(p, bookings);
  const created = next(ch, 'booking.created');
  const r = await book();
  const { data } = await created;
  assert.equal(data.reservation, r.id, JSON.stringify(data));

  const viaSdk = next(ch, 'js.private');
  await within(sdk().trigger(bookings, 'js.private', { via: 'sdk' }), 'SDK trigger (private)');
  assert.deepEqual((await viaSdk).data, { via: 'sdk' });
});

test('pusher-js: presence here / joining / leaving with two housekeeping users', async () => {
  const a = await pusherClient(HK1);
  const { ch: chA, data: here } = await subscribed(a, presence);
  assert.equal(here.count, 1, `only me: ${JSON.stringify(here.members)}`);
  assert.equal(here.me?.info?.role, 'housekeeping');
  const meA = here.me.id;

  const joined = next(chA, 'pusher:member_added');
  const b = await pusherClient(HK2);
  const { data: hereB } = await subscribed(b, presence);
  assert.equal(hereB.count, 2);
  const m = (await joined).data;
  assert.equal(m.id, hereB.me.id);
  assert.notEqual(m.id, meA);
  assert.equal(m.info.role, 'housekeeping');
  assert.equal(chA.members.count, 2);

  // pusher-js resets `members` (and `me`) on disconnect: keep the id.
  const idB = hereB.me.id;
  const left = next(chA, 'pusher:member_removed');
  b.disconnect();
  assert.equal((await left).data.id, idB);
  assert.equal(chA.members.count, 1);
});

test('pusher-js: client events reach the other private subscriber, not the sender', async () => {
  const a = await pusherClient(ADMIN);
  const b = await pusherClient(RM);
  const { ch: chA } = await subscribed(a, bookings);
  const { ch: chB } = await subscribed(b, bookings);
  let echoed = null;
  chA.bind('client-typing', (d) => (echoed = d));
  const got = next(chB, 'client-typing');
  assert.equal(chA.trigger('client-typing', { who: 'a' }), true);
  assert.deepEqual((await got).data, { who: 'a' });
  // The sender would have had it by now if it were echoed (same hub, same loop).
  await sleep(300);
  assert.equal(echoed, null, 'client event echoed to its sender');
});

test('pusher SDK with a wrong secret is rejected with 401', async () => {
  await assert.rejects(within(sdk('not-the-secret').trigger('js-public', 'js.nope', {}), 'SDK trigger (bad secret)'), (e) => {
    assert.equal(e.status, 401, `${e}`);
    return true;
  });
  await assert.rejects(
    within(sdk('not-the-secret').triggerBatch([{ channel: 'js-public', name: 'js.nope', data: {} }]), 'SDK batch (bad secret)'),
    (e) => e.status === 401,
  );
});

test('pusher-js: another property and a housekeeping token on bookings are refused', async () => {
  const rm = await pusherClient(RM);
  const e1 = await refused(rm, `private-property.${OTHER}.bookings`);
  assert.equal(e1.type, 'AuthError', JSON.stringify(e1));
  assert.equal(e1.status, 403, JSON.stringify(e1));
  const hk = await pusherClient(HK1);
  const e2 = await refused(hk, bookings);
  assert.equal(e2.status, 403, JSON.stringify(e2));
  // The connection survives a refusal and still subscribes where allowed.
  await subscribed(rm, bookings);
  assert.equal(rm.connection.state, 'connected');
});

test('pusher-js: a forged auth string is refused by the hub itself', async () => {
  // Channel authorizer that signs with the wrong secret: the server, not the
  // auth endpoint, must refuse it.
  const p = new PusherJs(KEY, {
    ...pusherOptions(ADMIN),
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => cb(null, { auth: `${KEY}:${'0'.repeat(64)}` }),
    },
  });
  clients.push(p);
  const e = await refused(p, bookings);
  assert.equal(e.type, 'AuthError', JSON.stringify(e));
  assert.equal(e.status, 401, JSON.stringify(e));
});

test('pusher SDK: socket_id exclusion (Laravel toOthers), multi-channel trigger, channels API', async () => {
  const a = await pusherClient(ADMIN);
  const b = await pusherClient(ADMIN);
  const { ch: chA } = await subscribed(a, bookings);
  const { ch: chB } = await subscribed(b, bookings);
  let excluded = null;
  chA.bind('js.others', (d) => (excluded = d));
  const got = next(chB, 'js.others');
  await within(sdk().trigger(bookings, 'js.others', { n: 1 }, { socket_id: a.connection.socket_id }), 'SDK trigger with socket_id');
  assert.deepEqual((await got).data, { n: 1 });
  await sleep(300);
  assert.equal(excluded, null, 'the excluded socket got the event');

  const { ch: pub } = await subscribed(a, 'js-multi');
  const one = next(pub, 'js.multi');
  const two = next(chB, 'js.multi');
  await within(sdk().trigger(['js-multi', bookings], 'js.multi', { both: true }), 'SDK trigger on two channels');
  assert.deepEqual((await one).data, { both: true });
  assert.deepEqual((await two).data, { both: true });

  const h = await pusherClient(HK1);
  await subscribed(h, presence);
  const users = await within(sdk().get({ path: `/channels/${presence}/users` }), 'SDK GET users');
  assert.equal(users.status, 200);
  const u = await users.json();
  assert.equal(u.users.length, 1, JSON.stringify(u));
  const list = await within(sdk().get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }), 'SDK GET channels');
  assert.equal(list.status, 200);
  const l = await list.json();
  assert.equal(l.channels[presence]?.user_count, 1, JSON.stringify(l));
  const one_ch = await within(sdk().get({ path: `/channels/${bookings}`, params: { info: 'subscription_count' } }), 'SDK GET channel');
  const c = await one_ch.json();
  assert.equal(c.occupied, true, JSON.stringify(c));
  assert.equal(c.subscription_count, 2, JSON.stringify(c));
});

test('pusher-js accepts channel auth signed by the pusher SDK (as Laravel signs it)', async () => {
  const server = sdk();
  const p = new PusherJs(KEY, {
    ...pusherOptions(ADMIN),
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) =>
        cb(
          null,
          channelName.startsWith('presence-')
            ? server.authorizeChannel(socketId, channelName, { user_id: 'laravel-7', user_info: { name: 'Ayu' } })
            : server.authorizeChannel(socketId, channelName),
        ),
    },
  });
  clients.push(p);
  await subscribed(p, `private-property.${OTHER}.inventory`);
  const { data } = await subscribed(p, `presence-property.${OTHER}.housekeeping`);
  assert.equal(data.me.id, 'laravel-7');
  assert.deepEqual(data.me.info, { name: 'Ayu' });
});

// ---------------------------------------------------------------- laravel-echo

function echo(token, extra = {}) {
  const e = new Echo({
    broadcaster: 'pusher',
    key: KEY,
    cluster: 'mt1',
    wsHost: HOST,
    wsPort: PORT,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    authEndpoint: AUTH_URL,
    auth: { headers: { Authorization: `Bearer ${token}` } },
    Pusher: PusherJs,
    ...extra,
  });
  clients.push(e);
  return e;
}

/** Resolve with the first callback argument of `register(cb)`. */
function first(register, what, ms = WAIT_MS) {
  return within(new Promise((resolve) => register(resolve)), what, ms);
}

test('laravel-echo: public, private (hub + SDK) channels', async () => {
  const e = echo(ADMIN);
  const pub = e.channel('js-echo-public');
  await first((cb) => pub.subscribed(cb), 'Echo public subscribed');
  const hello = first((cb) => pub.listen('.js.hello', cb), 'Echo .js.hello');
  await within(sdk().trigger('js-echo-public', 'js.hello', { from: 'sdk' }), 'SDK trigger');
  assert.deepEqual(await hello, { from: 'sdk' });

  const priv = e.private(`property.${PROP}.bookings`);
  await first((cb) => priv.subscribed(cb), 'Echo private subscribed');
  const created = first((cb) => priv.listen('.booking.created', cb), 'Echo .booking.created');
  const r = await book();
  assert.equal((await created).reservation, r.id);

  // Namespaced event name, as Laravel broadcasts App\Events\… by default.
  const ns = first((cb) => priv.listen('RoomAssigned', cb), 'Echo RoomAssigned');
  await within(sdk().trigger(bookings, 'App\\Events\\RoomAssigned', { room: 'STD1' }), 'SDK trigger (namespaced)');
  assert.deepEqual(await ns, { room: 'STD1' });
});

test('laravel-echo: presence here / joining / leaving, and whispers', async () => {
  const a = echo(HK1);
  const chA = a.join(`property.${PROP}.housekeeping`);
  const here = await first((cb) => chA.here(cb), 'Echo here');
  assert.equal(here.length, 1, JSON.stringify(here));
  assert.equal(here[0].role, 'housekeeping');

  const joining = first((cb) => chA.joining(cb), 'Echo joining');
  // The second Echo wraps an existing pusher-js client (`client` option).
  const pb = await pusherClient(HK2);
  const b = echo(HK2, { client: pb, Pusher: undefined });
  const chB = b.join(`property.${PROP}.housekeeping`);
  const hereB = await first((cb) => chB.here(cb), 'Echo here (second user)');
  assert.equal(hereB.length, 2);
  assert.equal((await joining).role, 'housekeeping');

  // Whisper (client-typing) between the two presence members.
  let echoed = null;
  chA.listenForWhisper('typing', (d) => (echoed = d));
  const whisper = first((cb) => chB.listenForWhisper('typing', cb), 'Echo whisper');
  chA.whisper('typing', { room: 'STD0' });
  assert.deepEqual(await whisper, { room: 'STD0' });
  await sleep(300);
  assert.equal(echoed, null, 'whisper echoed to its sender');

  const leaving = first((cb) => chA.leaving(cb), 'Echo leaving');
  b.disconnect();
  assert.equal((await leaving).role, 'housekeeping');
});

test('laravel-echo: .error() hears refusals', async () => {
  const e = echo(RM);
  const other = e.private(`property.${OTHER}.bookings`);
  const err = await first((cb) => other.error(cb), 'Echo .error() for another property');
  assert.equal(err.status, 403, JSON.stringify(err));

  const hk = echo(HK1);
  const b = hk.private(`property.${PROP}.bookings`);
  const err2 = await first((cb) => b.error(cb), 'Echo .error() for housekeeping on bookings');
  assert.equal(err2.status, 403, JSON.stringify(err2));
});
