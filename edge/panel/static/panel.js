// gridgate guard panel: live camera images, the live feed (Server-Sent Events), small helpers.
// Served from the gate itself; the page works without it, this only keeps it live.
"use strict";

(function () {
  const interval = Number(document.body.dataset.frameInterval || 200);
  const FEED_MAX = 60;

  // Camera images: fetch the next frame only after the previous one arrived, so a slow
  // phone connection never piles up requests.
  function watchCamera(img) {
    const base = img.dataset.frameSrc;
    const missing = img.parentElement.querySelector(".cam-missing");
    let timer = null;
    function next(delay) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (document.hidden) { next(1000); return; }
        img.src = base + "?t=" + Date.now();
      }, delay);
    }
    img.addEventListener("load", function () {
      img.classList.remove("broken");
      if (missing) missing.hidden = true;
      next(interval);
    });
    img.addEventListener("error", function () {
      img.classList.add("broken");  // no broken-image icon over the "no image" text
      if (missing) missing.hidden = false;
      next(1000);
    });
    next(0);
  }
  document.querySelectorAll("img[data-frame-src]").forEach(watchCamera);

  // The compound's clock, as the server writes times: "18:09:45 UTC+8" in the policy's zone
  // (not the phone's own), so the feed's times and this clock always agree.
  const zone = document.body.dataset.zone;
  function zoneLabel(date) {
    try {
      const part = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
        .formatToParts(date).find(function (p) { return p.type === "timeZoneName"; });
      return part ? part.value.replace("GMT", "UTC") : "";
    } catch (e) { return ""; }
  }
  const clock = document.getElementById("clock");
  if (clock && zone) {
    let format = null;
    try {
      format = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit",
        minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    } catch (e) { /* an unknown zone: the server's time stays */ }
    if (format) {
      const tick = function () {
        const now = new Date();
        clock.textContent = format.format(now) + " " + zoneLabel(now);
        clock.dateTime = now.toISOString();
      };
      tick();
      setInterval(tick, 1000);
    }
  }

  // Urgent alerts and guard prompts: a sound (made here with WebAudio, no file to fetch) and a
  // system notification. Browsers play sound only after a tap on the page and ask for
  // notifications only when the person asks: the bell button does both; the choice is kept
  // on this device. A flood sounds once every few seconds; a notification per alert replaces
  // the one before (same tag), so a count that grows does not stack them.
  const PREF = "gridgate.chime";
  const CHIME_GAP_MS = 4000;
  const bell = document.getElementById("chime");
  const wanted = document.getElementById("sound-wanted");
  let audio = null;
  let lastChime = 0;
  let worker = null;

  function chimeOn() {
    try { return localStorage.getItem(PREF) === "on"; } catch (e) { return false; }
  }
  function audioContext() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    return audio;
  }
  function beep(ctx) {
    const start = ctx.currentTime + 0.02;
    [[880, 0], [660, 0.22], [880, 0.44]].forEach(function (tone) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const at = start + tone[1];
      osc.type = "square";
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.19);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.2);
    });
  }
  function sound() {
    const ctx = audioContext();
    if (!ctx) return;
    if (ctx.state === "running") { beep(ctx); return; }
    // Without a tap on this page the context stays suspended: ask for one, then play.
    ctx.resume().then(function () { if (ctx.state === "running") beep(ctx); });
    setTimeout(function () {
      if (ctx.state !== "running" && wanted) wanted.hidden = false;
    }, 500);
  }
  function unlock() {
    if (!chimeOn() || !audio || audio.state === "running") return;
    // The sound that waited for this tap plays now (its resume() resolves); the banner goes.
    audio.resume().then(function () {
      if (audio.state === "running" && wanted) wanted.hidden = true;
    });
  }
  document.addEventListener("pointerdown", unlock, true);
  document.addEventListener("keydown", unlock, true);

  function notify(title, text, tag, target) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const options = { body: text, tag: tag, icon: "/static/favicon.svg", data: { url: target } };
    // Phones show notifications only through a service worker; desktops take either.
    if (worker) {
      worker.showNotification(title, options).catch(function () { /* the banner stays */ });
      return;
    }
    try {
      const note = new Notification(title, options);
      note.onclick = function () { window.focus(); window.location.href = target; note.close(); };
    } catch (e) { /* no notifications outside a service worker here */ }
  }
  function registerWorker() {
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
    navigator.serviceWorker.register("/static/panel-sw.js").then(function (reg) {
      worker = reg;
    }).catch(function () { worker = null; });
  }
  function urgent(title, text, tag, target) {
    if (!chimeOn()) return;
    notify(title, text, tag, target);
    const now = Date.now();
    if (now - lastChime < CHIME_GAP_MS) return;
    lastChime = now;
    sound();
  }
  function showBell() {
    if (!bell) return;
    const on = chimeOn();
    bell.hidden = false;
    bell.classList.toggle("on", on);
    bell.setAttribute("aria-pressed", on ? "true" : "false");
    bell.querySelector(".chime-label").textContent = on ? bell.dataset.on : bell.dataset.off;
  }
  if (bell) {
    showBell();
    if (chimeOn()) registerWorker();
    bell.addEventListener("click", function () {
      if (chimeOn()) {
        try { localStorage.removeItem(PREF); } catch (e) { /* private mode */ }
        showBell();
        return;
      }
      try { localStorage.setItem(PREF, "on"); } catch (e) { /* kept for this page only */ }
      showBell();
      const ctx = audioContext();  // created and resumed inside the tap: sound is allowed
      if (ctx) ctx.resume().then(function () { beep(ctx); });
      registerWorker();
      if ("Notification" in window && Notification.permission === "default") {
        Notification.requestPermission().then(function () {
          notify(document.title, bell.dataset.test, "gridgate-test", "/alerts");
        });
      }
    });
  }
  const seenAlerts = {};
  document.querySelectorAll("[data-alert]").forEach(function (li) {
    seenAlerts[li.dataset.alert] = { escalated: !!li.querySelector(".escalated"), count: 0 };
  });

  function setAlertCount(n) {
    const badge = document.getElementById("alert-count");
    if (!badge || typeof n !== "number") return;
    badge.textContent = String(n);
    badge.classList.toggle("zero", n === 0);
  }

  function refreshDoors() {
    if (!document.querySelector("[data-door-state]")) return;
    fetch("/door/states", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (states) {
        if (!states) return;
        Object.keys(states).forEach(function (reader) {
          const el = document.querySelector('[data-door-state="' + CSS.escape(reader) + '"]');
          if (el) el.innerHTML = states[reader];
        });
      })
      .catch(function () { /* the next refresh will try again */ });
  }
  if (document.querySelector("[data-door-state]")) setInterval(refreshDoors, 5000);

  function onPassage(data) {
    if (data.prompt) {  // heard on every page: someone waits at the gate
      showPrompt(data.prompt);
      urgent(data.prompt.title, data.prompt.text, "gridgate-prompt-" + data.prompt.event_id, "/");
    }
    const feed = document.getElementById("feed");
    if (!feed) return;
    const holder = document.createElement("ol");
    holder.innerHTML = data.html;
    const item = holder.firstElementChild;
    if (!item) return;
    // A decision shown before the journal could record it is replaced by the recorded row.
    const earlier = Array.prototype.find.call(feed.children, function (li) {
      return li.dataset.key === item.dataset.key;
    });
    if (earlier) { earlier.replaceWith(item); return; }
    feed.insertAdjacentElement("afterbegin", item);
    item.classList.add("fresh");
    const empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  }

  // The guard decides: a refused passage waits at its reader until a guard answers it.
  function showPrompt(prompt) {
    const slot = document.querySelector('[data-guard-prompts="' + CSS.escape(prompt.reader) + '"]');
    if (!slot) return;
    slot.insertAdjacentHTML("afterbegin", prompt.html);
    // On a phone the readers are below the feed: bring the prompt into view.
    const shown = slot.firstElementChild;
    const box = shown ? shown.getBoundingClientRect() : null;
    if (box && (box.top < 0 || box.bottom > window.innerHeight)) {
      shown.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  }

  function onAnswered(data) {
    document.querySelectorAll('[data-prompt="' + CSS.escape(data.event_id) + '"]')
      .forEach(function (el) { el.remove(); });
  }

  function onAlert(data) {
    setAlertCount(data.open_alerts);
    const before = seenAlerts[data.id];
    const grew = !before || (data.count || 1) > before.count || (data.escalated && !before.escalated);
    seenAlerts[data.id] = { escalated: !!data.escalated, count: data.count || 1 };
    if (data.severity === "urgent" && grew) {
      urgent(data.title, data.text, "gridgate-alert-" + data.id, "/alerts#alert-" + data.id);
    }
    const list = document.querySelector('#alerts[data-live-alerts="yes"]');
    const shown = document.getElementById("alert-" + data.id);
    if (shown) {
      // A folded alert's count grew, or it was escalated: show it as it is now, keeping a tick.
      const picked = shown.querySelector(".bulk-pick");
      const holder = document.createElement("ol");
      holder.innerHTML = data.html;
      const fresh = holder.firstElementChild;
      if (!fresh) return;
      const pick = fresh.querySelector(".bulk-pick");
      if (picked && pick) pick.checked = picked.checked;
      shown.replaceWith(fresh);
    } else if (list) {
      list.insertAdjacentHTML("afterbegin", data.html);
    }
  }

  // What the person at the door was shown last, as the gate screen showed it.
  function onDisplay(data) {
    const el = document.querySelector('[data-display-state="' + CSS.escape(data.reader_id) + '"]');
    if (el) el.innerHTML = data.html;
  }

  function onAck(data) {
    setAlertCount(data.open_alerts);
    const row = document.querySelector('#alerts[data-live-alerts="yes"] #alert-' + data.id);
    if (row) row.remove();
  }

  function listen() {
    if (!window.EventSource || !document.getElementById("alert-count")) return;
    const dot = document.getElementById("live-dot");
    const source = new EventSource("/api/events");
    function handle(fn) {
      return function (event) {
        try { fn(JSON.parse(event.data)); } catch (e) { console.warn("live item", e); }
      };
    }
    source.addEventListener("passage", handle(onPassage));
    source.addEventListener("alert", handle(onAlert));
    source.addEventListener("ack", handle(onAck));
    source.addEventListener("guard", handle(onAnswered));
    source.addEventListener("display", handle(onDisplay));
    source.addEventListener("door", handle(refreshDoors));
    source.onopen = function () { if (dot) dot.classList.add("on"); };
    source.onerror = function () { if (dot) dot.classList.remove("on"); };
  }
  listen();

  // Bulk acknowledge: "select all" ticks every open alert shown.
  const all = document.getElementById("bulk-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll(".bulk-pick").forEach(function (box) { box.checked = all.checked; });
    });
  }

  document.addEventListener("click", function (event) {
    const target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.dataset.confirm)) event.preventDefault();
    if (event.target.closest('[data-action="print"]')) window.print();
  });
})();
