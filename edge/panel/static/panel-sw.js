// gridgate guard panel: shows urgent-alert notifications (phones show them only through a
// service worker) and opens the panel when one is tapped. It caches nothing and sees no
// requests: the panel always comes from the gate.
"use strict";

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  const target = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true })
    .then(function (windows) {
      for (const w of windows) {
        if ("focus" in w) return w.focus();  // the panel already open: back to it
      }
      return self.clients.openWindow(target);
    }));
});
