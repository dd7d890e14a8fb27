// Live inventory grid: room types × dates, updated over the hub's
// private-property.{code}.inventory channel.
(function () {
  'use strict';
  var S = window.Saluran, el = S.el;
  var $ = function (id) { return document.getElementById(id); };
  var state = { hub: null, token: null, property: null, cal: null, prev: null, loading: false, again: false, pickup: {} };

  $('token').value = localStorage.getItem('saluran.token') || '';
  $('property').value = localStorage.getItem('saluran.property') || '';
  $('days').value = localStorage.getItem('saluran.days') || '14';

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
    state = { hub: null, token: token, property: property, cal: null, prev: null, loading: false, again: false, pickup: {} };
    say('');
    var hub = new S.Hub({ key: S.pusherKey(), token: token, onState: setConn });
    state.hub = hub;
    window.saluranHub = hub; // for debugging and the browser test
    var channel = 'private-property.' + property + '.inventory';
    hub.subscribe(channel, {
      // A fresh subscriber loads its snapshot once subscribed, so nothing
      // falls between the snapshot and the stream.
      subscribed: function () { document.body.setAttribute('data-subscribed', channel); if (!state.cal) reload(); },
      resync: function () { reload(); },
      error: function (e) { say('Live updates refused: ' + (e.error || e.type || 'error')); },
      event: function (name, data) {
        if (name === 'booking.created' && data) {
          var src = data.source || 'direct';
          var nights = Math.max(1, Math.round((Date.parse(data.check_out) - Date.parse(data.check_in)) / 864e5) || 1);
          var p = state.pickup[src] || (state.pickup[src] = { bookings: 0, nights: 0 });
          p.bookings++; p.nights += nights;
        }
        reload();
      },
    });
    hub.connect();
    reload();
  }

  // One snapshot request at a time; events during a request trigger one more.
  function reload() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    var mine = state;
    S.api(state.token, '/api/v1/properties/' + encodeURIComponent(state.property) + '/ari')
      .then(function (cal) { if (mine === state) { state.cal = cal; render(); say(''); } })
      .catch(function (e) { if (mine === state) say(String(e.message || e)); })
      .then(function () {
        if (mine !== state) return;
        state.loading = false;
        if (state.again) { state.again = false; reload(); }
      });
  }

  function money(x, cur) {
    if (x == null || isNaN(x)) return '–';
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, maximumFractionDigits: 0 }).format(x); }
    catch (_) { return Math.round(x).toLocaleString() + ' ' + cur; }
  }
  function shortRate(r) {
    if (r == null) return '–';
    var n = Number(r);
    if (n >= 1e6) return (n / 1e6).toFixed(n % 1e6 ? 2 : 0).replace(/\.?0+$/, '') + 'M';
    if (n >= 1e4) return Math.round(n / 1e3) + 'k';
    return String(n);
  }

  function render() {
    var cal = state.cal, n = Number($('days').value) || 14;
    var rts = cal.room_types || [];
    var dates = rts.length ? rts[0].days.slice(0, n).map(function (d) { return d.date; }) : [];
    var cells = {}; // key -> text, to flash what changed
    var t = $('grid');
    t.textContent = '';
    var head = el('tr', {}, [el('th', { class: 'rowh', text: cal.property + ' · ' + (cal.currency || '') })]);
    dates.forEach(function (d) {
      var dt = new Date(d + 'T00:00:00Z'), wd = dt.getUTCDay();
      head.appendChild(el('th', { class: wd === 0 || wd === 6 ? 'we' : '' }, [
        dt.toLocaleDateString(undefined, { weekday: 'short', timeZone: 'UTC' }), el('br'),
        dt.toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' })]));
    });
    t.appendChild(el('thead', {}, [head]));
    var body = el('tbody');
    var sold = 0, physical = 0, revenue = 0, overbooked = 0, stopped = {};
    rts.forEach(function (rt) {
      var base = (rt.rate_plans || []).find(function (p) { return !p.derived_from; }) || (rt.rate_plans || [])[0];
      var row = el('tr', { class: 'rt' }, [el('th', { class: 'rowh', text: rt.code + ' (' + rt.physical_rooms + ')' })]);
      rt.days.slice(0, n).forEach(function (d, i) {
        var cls = 'avail';
        if (d.available < 0) { cls += ' over'; overbooked++; }
        else if (d.available === 0) cls += ' zero';
        else if (d.available <= Math.max(1, Math.floor(rt.physical_rooms * 0.2))) cls += ' low';
        if (d.stop_sell) { cls += ' stop'; stopped[rt.code + d.date] = 1; }
        var badges = [];
        if (d.stop_sell) badges.push(el('span', { class: 'badge ss', text: 'SS' }));
        if (d.available < 0) badges.push(el('span', { class: 'badge ob', text: 'OB' }));
        var td = el('td', { class: cls, 'data-rt': rt.code, 'data-date': d.date, 'data-available': String(d.available), 'data-sold': String(d.sold) },
          [el('b', { class: 'n', text: String(d.available) }), el('small', { text: d.sold + ' / ' + rt.physical_rooms })].concat(badges));
        td.title = 'available ' + d.available + ', sold ' + d.sold + ', held ' + d.held + ', out of order ' + d.out_of_order +
          (d.allotment != null ? ', allotment ' + d.allotment : '');
        cells['a|' + rt.code + '|' + d.date] = { td: td, v: td.textContent };
        row.appendChild(td);
        sold += d.sold; physical += rt.physical_rooms;
        var pd = base && base.days[i];
        if (pd && pd.rate != null) revenue += d.sold * Number(pd.rate);
      });
      body.appendChild(row);
      (rt.rate_plans || []).forEach(function (p) {
        var prow = el('tr', { class: 'plan' }, [el('th', { class: 'rowh', text: p.code + (p.derived_from ? ' ← ' + p.derived_from : '') })]);
        p.days.slice(0, n).forEach(function (d) {
          var b = [el('span', { class: 'rate', text: shortRate(d.rate) })];
          if (d.stop_sell) { b.push(el('span', { class: 'badge ss', text: 'SS' })); stopped[rt.code + d.date] = 1; }
          if (d.closed_to_arrival) b.push(el('span', { class: 'badge cta', text: 'CTA' }));
          if (d.closed_to_departure) b.push(el('span', { class: 'badge ctd', text: 'CTD' }));
          if (d.min_stay && d.min_stay > 1) b.push(el('span', { class: 'badge ms', text: 'MS ' + d.min_stay }));
          if (d.min_stay_through && d.min_stay_through > 1) b.push(el('span', { class: 'badge ms', text: 'MST ' + d.min_stay_through }));
          if (d.max_stay) b.push(el('span', { class: 'badge', text: 'max ' + d.max_stay }));
          var td = el('td', { class: 'plan' + (d.stop_sell ? ' stop' : ''), 'data-plan': p.code, 'data-date': d.date }, b);
          if (d.rate != null) td.title = p.code + ' ' + d.rate + ' ' + (cal.currency || '');
          cells['p|' + p.code + '|' + d.date] = { td: td, v: td.textContent };
          prow.appendChild(td);
        });
        body.appendChild(prow);
      });
    });
    t.appendChild(body);
    if (state.prev) {
      for (var k in cells) {
        if (state.prev[k] !== undefined && state.prev[k] !== cells[k].v) cells[k].td.classList.add('flash');
      }
    }
    state.prev = {};
    for (var k2 in cells) state.prev[k2] = cells[k2].v;
    renderKpis({ sold: sold, physical: physical, revenue: revenue, overbooked: overbooked, stops: Object.keys(stopped).length, cur: cal.currency, n: dates.length });
  }

  function renderKpis(k) {
    var box = $('kpis');
    box.textContent = '';
    var kpi = function (label, value, extra) {
      return el('div', { class: 'kpi' }, [el('span', { text: label }), el('b', { text: value })].concat(extra || []));
    };
    box.appendChild(kpi('Occupancy · ' + k.n + ' days', k.physical ? (100 * k.sold / k.physical).toFixed(1) + ' %' : '–'));
    box.appendChild(kpi('ADR', k.sold ? money(k.revenue / k.sold, k.cur) : '–'));
    box.appendChild(kpi('RevPAR', k.physical ? money(k.revenue / k.physical, k.cur) : '–'));
    box.appendChild(kpi('Room nights sold', String(k.sold)));
    var alerts = kpi('Alerts', k.overbooked + ' overbooked · ' + k.stops + ' stop-sell');
    if (k.overbooked) alerts.querySelector('b').className = 'bad';
    box.appendChild(alerts);
    var srcs = Object.keys(state.pickup);
    var list = el('ul', {}, srcs.length ? srcs.map(function (s) {
      return el('li', { text: s + ': ' + state.pickup[s].bookings + ' bk / ' + state.pickup[s].nights + ' rn' });
    }) : [el('li', { text: 'no bookings yet' })]);
    box.appendChild(kpi('Pickup by channel (live)', '', [list]));
  }

  $('login').addEventListener('submit', function (e) { e.preventDefault(); start(); });
  $('days').addEventListener('change', function () { localStorage.setItem('saluran.days', $('days').value); state.prev = null; if (state.cal) render(); });
  $('logout').addEventListener('click', function () {
    localStorage.removeItem('saluran.token');
    $('token').value = '';
    if (state.hub) state.hub.stop();
    setConn('down', 'signed out');
  });
  if ($('token').value && $('property').value) start();
})();
