// Service worker for the housekeeping board: caches the app shell so the
// board opens offline / on a flaky network. Network first (staff always get
// the newest shell when online), cache as fallback. API calls and the
// WebSocket are never cached.
const CACHE = 'saluran-shell-v1';
const SHELL = [
  '/housekeeping',
  '/manifest.webmanifest',
  '/assets/app.css',
  '/assets/realtime.js',
  '/assets/housekeeping.js',
  '/assets/icon.svg',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(req)
      .then((resp) => {
        if (resp.ok) {
          const copy = resp.clone();
          caches.open(CACHE).then((c) => c.put(url.pathname, copy));
        }
        return resp;
      })
      .catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});
