// saluran realtime: a minimal Pusher protocol v7 client with the hub's
// recovery extension (ws/README.md). Every event carries
// "stream":{"epoch","offset"}; after a reconnect each channel is
// resubscribed with "recover" = the last position seen, so missed events are
// replayed, or the hub sends pusher:resync and the page reloads its snapshot.
(function () {
  'use strict';

  function parseData(d) {
    if (typeof d !== 'string') return d;
    try { return JSON.parse(d); } catch (_) { return d; }
  }

  function Hub(opts) {
    this.key = opts.key;
    this.token = opts.token;
    this.onState = opts.onState || function () {};
    this.subs = {}; // channel -> {handlers, last, subscribed}
    this.ws = null;
    this.socketId = null;
    this.attempts = 0;
    this.activityTimeout = 120;
    this.timer = null;
    this.stopped = false;
  }

  Hub.prototype.connect = function () {
    var self = this;
    if (this.stopped) return;
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/app/' + encodeURIComponent(this.key) + '?protocol=7&client=saluran-web&version=1.0';
    this.onState('connecting');
    var ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = function (e) { if (ws === self.ws) self.handle(e.data); };
    ws.onclose = function (e) { if (ws === self.ws) self.closed(e.code); };
    ws.onerror = function () { /* onclose follows */ };
  };

  Hub.prototype.send = function (event, data) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ event: event, data: data }));
  };

  // Any message from the server proves the connection alive; after
  // activity_timeout of silence we ping, and 30 s more without an answer we
  // drop the socket and reconnect.
  Hub.prototype.alive = function () {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () {
      self.send('pusher:ping', {});
      self.timer = setTimeout(function () { if (self.ws) self.ws.close(); }, 30000);
    }, this.activityTimeout * 1000);
  };

  Hub.prototype.closed = function (code) {
    clearTimeout(this.timer);
    this.socketId = null;
    for (var ch in this.subs) this.subs[ch].subscribed = false;
    if (this.stopped) return;
    if (code >= 4000 && code < 4100) { // pusher: don't reconnect
      this.onState('down', 'closed by server (' + code + ')');
      return;
    }
    var delay = code >= 4200 && code < 4300 ? 0 : Math.min(30000, 1000 * Math.pow(2, this.attempts)) * (0.5 + Math.random() / 2);
    this.attempts++;
    this.onState('down', 'reconnecting in ' + Math.round(delay / 1000) + ' s');
    var self = this;
    setTimeout(function () { self.connect(); }, delay);
  };

  Hub.prototype.handle = function (raw) {
    var m;
    try { m = JSON.parse(raw); } catch (_) { return; }
    this.alive();
    var data = parseData(m.data);
    var sub = m.channel ? this.subs[m.channel] : null;
    switch (m.event) {
      case 'pusher:connection_established':
        this.socketId = data.socket_id;
        this.activityTimeout = Math.max(10, Math.min(data.activity_timeout || 120, 120));
        this.attempts = 0;
        this.onState('live');
        for (var ch in this.subs) this.subscribeNow(ch);
        return;
      case 'pusher:ping':
        this.send('pusher:pong', {});
        return;
      case 'pusher:pong':
      case 'pusher:error':
        return;
      case 'pusher_internal:subscription_succeeded':
        if (!sub) return;
        sub.subscribed = true;
        // After a recover, the replay follows: keep the old position until it arrives.
        if (!sub.last && m.stream) sub.last = m.stream;
        if (sub.h.subscribed) sub.h.subscribed(m.stream, data);
        return;
      case 'pusher:subscription_error':
        if (sub && sub.h.error) sub.h.error(data);
        return;
      case 'pusher:resync':
        if (!sub) return;
        sub.last = { epoch: data.epoch, offset: data.offset };
        if (sub.h.resync) sub.h.resync(data);
        return;
    }
    if (!sub) return;
    if (m.stream) {
      var last = sub.last;
      if (last && last.epoch === m.stream.epoch) {
        if (m.stream.offset <= last.offset) return; // already seen
        if (m.stream.offset > last.offset + 1) { // a gap: never apply silently
          sub.last = m.stream;
          if (sub.h.resync) sub.h.resync(m.stream);
          return;
        }
      }
      sub.last = m.stream;
    }
    if (sub.h.event) sub.h.event(m.event, data, m.stream);
  };

  Hub.prototype.subscribe = function (channel, handlers) {
    this.subs[channel] = { h: handlers || {}, last: null, subscribed: false };
    if (this.socketId) this.subscribeNow(channel);
  };

  Hub.prototype.subscribeNow = function (channel) {
    var self = this;
    var sub = this.subs[channel];
    var socketId = this.socketId;
    if (!sub || !socketId) return;
    var body = new URLSearchParams({ socket_id: socketId, channel_name: channel });
    fetch('/api/v1/realtime/auth', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + this.token, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body,
    }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error((j.error && j.error.message) || ('auth ' + r.status)); return j; });
    }).then(function (j) {
      if (self.socketId !== socketId || self.subs[channel] !== sub) return; // reconnected meanwhile
      var data = { channel: channel, auth: j.auth };
      if (j.channel_data) data.channel_data = j.channel_data;
      if (sub.last) data.recover = sub.last;
      self.send('pusher:subscribe', data);
    }).catch(function (e) {
      if (sub.h.error) sub.h.error({ error: String(e.message || e) });
    });
  };

  Hub.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.ws = null;
  };

  function api(token, path, init) {
    init = init || {};
    init.headers = Object.assign({ Authorization: 'Bearer ' + token, Accept: 'application/json' }, init.headers || {});
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || ('HTTP ' + r.status));
        return j;
      });
    });
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'class') e.className = attrs[k];
      else if (k === 'text') e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }

  window.Saluran = { Hub: Hub, api: api, el: el, pusherKey: function () {
    var m = document.querySelector('meta[name="pusher-key"]');
    return m ? m.getAttribute('content') : 'saluran-key';
  } };
})();
