// gridgate gate display: the screen follows the gate's stream; one voice at a time, the newest.
"use strict";

(function () {
  const body = document.body;
  const offlineAfter = Number(body.dataset.offlineMs || 3000);
  const interval = Number(body.dataset.frameInterval || 200);
  const offline = document.getElementById("offline");
  const hint = document.getElementById("sound-hint");
  const voice = document.getElementById("voice");
  let key = body.dataset.key;
  let promptSeq = Number(body.dataset.promptSeq || 0);
  let heard = Date.now();
  let playlist = [];

  function setText(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = value || "";
  }

  function show(id, visible) {
    const el = document.getElementById(id);
    if (el) el.hidden = !visible;
  }

  function render(s) {
    body.className = "tone-" + s.tone + " state-" + s.state;
    setText("verdict-zh", s.verdict_zh);
    setText("verdict-en", s.verdict_en);
    setText("reason-zh", s.reason_zh);
    setText("reason-en", s.reason_en);
    setText("extra-zh", s.extra_zh);
    setText("extra-en", s.extra_en);
    show("extra", Boolean(s.extra_zh || s.extra_en));
    const chip = document.getElementById("colour-chip");
    if (chip) {
      chip.className = "chip colour-" + (s.colour || "none");
      chip.textContent = s.colour ? s.colour_zh + " · " + s.colour_en : "";
    }
    show("colour", Boolean(s.colour));
    setText("name", s.name);
    show("name", Boolean(s.name));
    body.dataset.state = s.state;
    body.dataset.key = s.key;
  }

  // One prompt at a time, and only the newest: a new one stops whatever is playing, so a
  // queue at the door never hears a backlog.
  function playNext() {
    const url = playlist.shift();
    if (!url || !voice) return;
    voice.src = url;
    const started = voice.play();
    if (started && started.catch) {
      started.catch(function (err) {
        if (err && err.name === "NotAllowedError" && hint) hint.hidden = false;
      });
    }
  }
  function say(urls) {
    if (!voice) return;
    playlist = urls.slice();
    voice.pause();
    playNext();
  }
  if (voice) voice.addEventListener("ended", playNext);
  document.addEventListener("click", function () {
    // A tablet's browser plays sound only after a touch: this one unlocks it.
    if (hint) hint.hidden = true;
    if (voice && !voice.src) {
      voice.muted = true;
      voice.play().catch(function () {}).finally(function () { voice.muted = false; });
    }
  });

  function online(yes) {
    body.dataset.online = yes ? "yes" : "no";
    if (offline) offline.hidden = yes;
  }

  function onScreen(event) {
    heard = Date.now();
    online(true);
    let s;
    try { s = JSON.parse(event.data); } catch (e) { return; }
    if (s.key !== key) {
      key = s.key;
      render(s);
    }
    if (s.prompt_seq > promptSeq) {
      promptSeq = s.prompt_seq;
      // A prompt older than this is not for the person at the door now (a reconnect).
      if (s.prompt_urls && s.prompt_urls.length && s.prompt_age_ms < 2000) say(s.prompt_urls);
    }
  }

  if (window.EventSource) {
    const source = new EventSource("/events");
    source.addEventListener("screen", onScreen);
    source.addEventListener("tick", function () { heard = Date.now(); online(true); });
    source.onerror = function () { online(false); };
  }
  setInterval(function () {
    if (Date.now() - heard > offlineAfter) online(false);
  }, 250);

  // The camera preview: the next picture only after the previous one arrived.
  const camera = document.getElementById("camera");
  if (camera) {
    let timer = null;
    const next = function (delay) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        camera.src = camera.dataset.src + "?t=" + Date.now();
      }, delay);
    };
    camera.addEventListener("load", function () {
      camera.classList.add("loaded");
      next(interval);
    });
    camera.addEventListener("error", function () {
      camera.classList.remove("loaded");
      next(1000);
    });
    next(0);
  }
})();
