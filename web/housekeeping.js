// Housekeeping board: rooms as big cards; tap → next status → PATCH; live
// updates over private-property.{code}.rooms (with recovery).
(function () {
  'use strict';
  var S = window.Saluran, el = S.el;
  var $ = function (id) { return document.getElementById(id); };
  var LABEL = {
    vacant_clean: 'Vacant clean', vacant_dirty: 'Vacant dirty', inspected: 'Inspected',
    occupied_clean: 'Occupied clean', occupied_dirty: 'Occupied dirty',
    out_of_order: 'Out of order', out_of_service: 'Out of service',
  };
  // The domain's state machine (RoomStatus::can_become), most likely first.
  var NEXT = {
    vacant_dirty: ['vacant_clean', 'out_of_order', 'out_of_service'],
    vacant_clean: ['inspected', 'vacant_dirty', 'occupied_clean', 'out_of_order', 'out_of_service'],
    inspected: ['occupied_clean', 'vacant_dirty', 'out_of_order', 'out_of_service'],
    occupied_clean: ['occupied_dirty', 'vacant_dirty'],
    occupied_dirty: ['occupied_clean', 'vacant_dirty'],
    out_of_order: ['vacant_dirty', 'vacant_clean', 'out_of_service'],
    out_of_service: ['vacant_dirty', 'vacant_clean', 'out_of_order'],
  };
  var state = { hub: null, token: null, property: null, rooms: null, loading: false, again: false };

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(function () { /* still works without */ });
  }
  $('token').value = localStorage.getItem('saluran.token') || '';
  $('property').value = localStorage.getItem('saluran.property') || '';

  function setConn(s, why) {
    var c = $('conn');
    c.className = 'conn ' + s;
    c.textContent = s === 'live' ? 'live' : s === 'down' ? 'offline' + (why ? ' · ' + why : '') : s;
  }
  function say(t) { $('msg').textContent = t || ''; }

  function start() {
    var token = $('token').value.trim(), property = $('property').value.trim().toUpperCase();
    if (!token || !property) return;
    localStorage.setItem('saluran.token', token);
    localStorage.setItem('saluran.property', property);
    if (state.hub) state.hub.stop();
    state = { hub: null, token: token, property: property, rooms: null, loading: false, again: false };
    var hub = new S.Hub({ key: S.pusherKey(), token: token, onState: setConn });
    state.hub = hub;
    window.saluranHub = hub; // for debugging and the browser test
    hub.subscribe('private-property.' + property + '.rooms', {
      subscribed: function (stream) { document.body.setAttribute('data-subscribed', 'rooms'); if (!state.rooms) reload(); },
      resync: function () { reload(); },
      error: function (e) { say('Live updates refused: ' + (e.error || e.type || 'error')); },
      event: function (name, data) {
        if (name !== 'room.status' || !data || !state.rooms) return;
        var r = state.rooms.find(function (x) { return x.number === data.room; });
        if (r) { r.status = data.status; render(data.room); } else reload();
      },
    });
    hub.connect();
    reload();
  }

  function reload() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    var mine = state;
    S.api(state.token, '/api/v1/properties/' + encodeURIComponent(state.property))
      .then(function (p) { if (mine === state) { state.rooms = p.rooms || []; render(); say(''); } })
      .catch(function (e) { if (mine === state) say(String(e.message || e)); })
      .then(function () {
        if (mine !== state) return;
        state.loading = false;
        if (state.again) { state.again = false; reload(); }
      });
  }

  function render(flash) {
    var box = $('rooms');
    box.textContent = '';
    var counts = {};
    state.rooms.slice().sort(function (a, b) { return a.floor - b.floor || String(a.number).localeCompare(String(b.number), undefined, { numeric: true }); })
      .forEach(function (r) {
        counts[r.status] = (counts[r.status] || 0) + 1;
        var card = el('button', { type: 'button', class: 'room s-' + r.status + (flash === r.number ? ' flash' : ''), 'data-room': r.number, 'data-status': r.status }, [
          el('span', { class: 'no', text: r.number }),
          el('span', { class: 'st', text: LABEL[r.status] || r.status }),
          el('span', { class: 'rt', text: r.room_type + ' · floor ' + r.floor }),
        ]);
        card.addEventListener('click', function () { pick(r); });
        box.appendChild(card);
      });
    var c = $('counts');
    c.textContent = '';
    Object.keys(LABEL).forEach(function (s) {
      if (counts[s]) c.appendChild(el('span', { class: 's-' + s, text: LABEL[s] + ' ' + counts[s] }));
    });
  }

  function pick(room) {
    var d = $('pick');
    $('pick-title').textContent = 'Room ' + room.number + ' · ' + (LABEL[room.status] || room.status);
    var opts = $('pick-opts');
    opts.textContent = '';
    (NEXT[room.status] || []).forEach(function (s) {
      var b = el('button', { type: 'button', class: 's-' + s, 'data-next': s, text: LABEL[s] });
      b.addEventListener('click', function () { d.close(); change(room.number, s); });
      opts.appendChild(b);
    });
    d.showModal();
  }

  function change(number, status) {
    S.api(state.token, '/api/v1/properties/' + encodeURIComponent(state.property) + '/rooms/' + encodeURIComponent(number), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ status: status }),
    }).then(function (r) {
      var x = state.rooms && state.rooms.find(function (y) { return y.number === r.number; });
      if (x) { x.status = r.status; render(r.number); }
    }).catch(function (e) { say('Room ' + number + ': ' + (e.message || e)); reload(); });
  }

  $('pick-cancel').addEventListener('click', function () { $('pick').close(); });
  $('login').addEventListener('submit', function (e) { e.preventDefault(); start(); });
  if ($('token').value && $('property').value) start();
})();
