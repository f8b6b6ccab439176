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
      if (missing) missing.hidden = true;
      next(interval);
    });
    img.addEventListener("error", function () {
      if (missing) missing.hidden = false;
      next(1000);
    });
    next(0);
  }
  document.querySelectorAll("img[data-frame-src]").forEach(watchCamera);

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
    if (data.prompt) showPrompt(data.prompt);
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
  }

  function onAnswered(data) {
    document.querySelectorAll('[data-prompt="' + CSS.escape(data.event_id) + '"]')
      .forEach(function (el) { el.remove(); });
  }

  function onAlert(data) {
    setAlertCount(data.open_alerts);
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
