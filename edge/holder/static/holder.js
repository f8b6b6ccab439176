// The holder page: this phone's own Ed25519 key (WebCrypto, never extractable), the pass bound
// to it, and the live code the gate checks: "GL1:" + base45( bstr(pass body) || uint step ||
// bstr(64) Ed25519 signature ), re-signed every 30 s step (docs/passes.md, "Live codes").
// Nothing is fetched and nothing is sent: the key and the pass stay in this browser's storage.
"use strict";

(() => {
  const STEP_S = 30;
  const PASS_PREFIX = "GG1:";
  const LIVE_PREFIX = "GL1:";
  const LIVE_CONTEXT = "gridgate-live-1";
  const GG_CLAIM = -70001;
  const COLOURS = ["green", "yellow", "red", "white"];
  const COLOUR_NAMES = { green: "绿码 GREEN", yellow: "黄码 YELLOW", red: "红码 RED", white: "白码 WHITE" };
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const MAX_PASS_TEXT = 4296;
  const $ = (id) => document.getElementById(id);

  // -- base45 (RFC 9285) and base64url ----------------------------------------------------------
  function base45Encode(bytes) {
    let out = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      let n = bytes[i] * 256 + bytes[i + 1];
      out += B45[n % 45] + B45[Math.floor(n / 45) % 45] + B45[Math.floor(n / 2025)];
    }
    if (bytes.length % 2) {
      const n = bytes[bytes.length - 1];
      out += B45[n % 45] + B45[Math.floor(n / 45)];
    }
    return out;
  }

  function base45Decode(text) {
    const values = Array.from(text, (c) => {
      const v = B45.indexOf(c);
      if (v < 0) throw new Error("not base45");
      return v;
    });
    if (values.length % 3 === 1) throw new Error("not base45 (length)");
    const out = [];
    for (let i = 0; i < values.length; i += 3) {
      if (i + 2 < values.length) {
        const n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025;
        if (n > 0xffff) throw new Error("not base45 (value)");
        out.push(n >> 8, n & 0xff);
      } else {
        const n = values[i] + values[i + 1] * 45;
        if (n > 0xff) throw new Error("not base45 (value)");
        out.push(n);
      }
    }
    return new Uint8Array(out);
  }

  function base64url(bytes) {
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // -- CBOR: the little this page reads (a pass) and writes (a live code) ---------------------
  function cborDecode(bytes) {
    let i = 0;
    const take = (n) => {
      if (n > bytes.length - i) throw new Error("CBOR truncated");
      const part = bytes.subarray(i, i + n);
      i += n;
      return part;
    };
    const uint = (n) => take(n).reduce((acc, b) => acc * 256 + b, 0);
    function item(depth) {
      if (depth > 16) throw new Error("CBOR nested too deeply");
      const first = take(1)[0];
      const major = first >> 5;
      const info = first & 31;
      if (major === 7) {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw new Error("CBOR simple value not expected");
      }
      let n;
      if (info < 24) n = info;
      else if (info === 24) n = uint(1);
      else if (info === 25) n = uint(2);
      else if (info === 26) n = uint(4);
      else if (info === 27) n = uint(8);
      else throw new Error("CBOR indefinite lengths not expected");
      if (n > Number.MAX_SAFE_INTEGER) throw new Error("CBOR number too large");
      switch (major) {
        case 0: return n;
        case 1: return -1 - n;
        case 2: return take(n).slice();
        case 3: return new TextDecoder("utf-8", { fatal: true }).decode(take(n));
        case 4: {
          if (n > bytes.length) throw new Error("CBOR array too long");
          const list = [];
          for (let k = 0; k < n; k++) list.push(item(depth + 1));
          return list;
        }
        case 5: {
          if (n > bytes.length) throw new Error("CBOR map too long");
          const map = new Map();
          for (let k = 0; k < n; k++) map.set(item(depth + 1), item(depth + 1));
          return map;
        }
        default: return { tag: n, value: item(depth + 1) };
      }
    }
    const value = item(0);
    if (i !== bytes.length) throw new Error("bytes after the CBOR item");
    return value;
  }

  function cborHead(major, n) {
    const m = major << 5;
    if (n < 24) return [m | n];
    if (n < 0x100) return [m | 24, n];
    if (n < 0x10000) return [m | 25, n >> 8, n & 0xff];
    if (n < 0x100000000) return [m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    const hi = Math.floor(n / 0x100000000);
    const lo = n >>> 0;
    return [m | 27, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff,
      lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  }

  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const cbUint = (n) => new Uint8Array(cborHead(0, n));
  const cbBytes = (b) => concat(new Uint8Array(cborHead(2, b.length)), b);
  const cbText = (s) => { const b = new TextEncoder().encode(s); return concat(new Uint8Array(cborHead(3, b.length)), b); };
  const cbArray = (items) => concat(new Uint8Array(cborHead(4, items.length)), ...items);

  // -- the pass ---------------------------------------------------------------------------------
  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const out = new Uint8Array(await new Response(stream).arrayBuffer());
    if (out.length > 2048) throw new Error("larger than any real pass");
    return out;
  }

  async function readPass(input) {
    const text = input.trim();
    if (text.length > MAX_PASS_TEXT || !text.startsWith(PASS_PREFIX)) {
      throw new Error("不是通行证 · not a gridgate pass (" + PASS_PREFIX + "...)");
    }
    const body = base45Decode(text.slice(PASS_PREFIX.length));
    let message = cborDecode(body[0] === 0x78 ? await inflate(body) : body);
    if (message && message.tag === 18) message = message.value;
    if (!Array.isArray(message) || message.length !== 4 || !(message[2] instanceof Uint8Array)) {
      throw new Error("not a COSE_Sign1 pass");
    }
    const claims = cborDecode(message[2]);
    const own = claims instanceof Map ? claims.get(GG_CLAIM) : null;
    if (!Array.isArray(own) || own.length < 4) throw new Error("not a gridgate pass (claims)");
    const cnf = claims.get(8);
    const key = cnf instanceof Map ? cnf.get(1) : null;
    const x = key instanceof Map ? key.get(-2) : null;
    return {
      text, body, passId: claims.get(7), person: claims.get(2), household: own[0],
      compound: own[1], colour: COLOURS[own[2]] || "white", visitor: own[3] === 1,
      expires: claims.get(4), holderKey: x instanceof Uint8Array ? x : null,
    };
  }

  // -- the live code ------------------------------------------------------------------------------
  function toBeSigned(pass, step) {
    // The Sig_structure of a COSE_Sign1 with an empty protected header and the detached
    // payload [context, compound, pass id, step] (gate/passes/live.py).
    const payload = cbArray([cbText(LIVE_CONTEXT), cbText(pass.compound), cbText(pass.passId), cbUint(step)]);
    return cbArray([cbText("Signature1"), cbBytes(new Uint8Array(0)), cbBytes(new Uint8Array(0)), cbBytes(payload)]);
  }

  async function liveCode(keys, pass, step) {
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, toBeSigned(pass, step)));
    return LIVE_PREFIX + base45Encode(concat(cbBytes(pass.body), cbUint(step), cbBytes(signature)));
  }

  function drawQr(canvas, text, scale) {
    const qr = qrcodegen.QrCode.encodeText(text, qrcodegen.QrCode.Ecc.MEDIUM);
    const border = 4;
    const size = qr.size + 2 * border;
    canvas.width = canvas.height = size * scale;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#000";
    for (let y = 0; y < qr.size; y++) {
      for (let x = 0; x < qr.size; x++) {
        if (qr.getModule(x, y)) ctx.fillRect((x + border) * scale, (y + border) * scale, scale, scale);
      }
    }
    return qr;
  }

  // -- storage: the key pair (the private half cannot leave WebCrypto) and the pass -------------
  function openStore() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("gridgate-holder", 1);
      request.onupgradeneeded = () => request.result.createObjectStore("state");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function stored(db, key, value) {
    return new Promise((resolve, reject) => {
      const tx = db.transaction("state", value === undefined ? "readonly" : "readwrite");
      const store = tx.objectStore("state");
      const request = value === undefined ? store.get(key) : store.put(value, key);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  // -- the page ------------------------------------------------------------------------------------
  function say(text) {
    const message = $("message");
    message.textContent = text;
    message.hidden = !text;
  }

  const two = (n) => String(n).padStart(2, "0");
  const clockText = (d) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

  let liveTimer = null;

  function showLive(keys, pass) {
    $("enrol").hidden = true;
    $("load").hidden = true;
    $("live").hidden = false;
    document.body.dataset.colour = pass.colour;
    $("colour-name").textContent = COLOUR_NAMES[pass.colour];
    $("person").textContent = (pass.visitor ? "访客 visitor " : "") + pass.person;
    const until = new Date(pass.expires * 1000);
    $("expiry").textContent = `有效至 valid until ${until.toLocaleDateString()} ${clockText(until)}`;
    let shownStep = null;
    let drawing = null;
    async function tick() {
      const now = Date.now();
      const here = new Date(now);
      $("clock").textContent = clockText(here);
      $("step-bar").style.width = `${((now / 1000) % STEP_S) / STEP_S * 100}%`;
      if (now / 1000 > pass.expires) say("通行证已过期，请联系社区 · This pass has expired: ask the office for a new one");
      const step = Math.floor(now / 1000 / STEP_S);
      if (step === shownStep || drawing === step) return;
      drawing = step;
      const text = await liveCode(keys, pass, step);
      const qr = drawQr($("code"), text, 8);
      shownStep = step;
      $("code").dataset.step = String(step);
      $("code").dataset.version = String(qr.version);
      $("code-info").textContent = `动态码 live code ${clockText(new Date(step * STEP_S * 1000))}`;
    }
    tick().catch((e) => say(`无法生成动态码 · cannot make the live code: ${e.message}`));
    if (liveTimer !== null) clearInterval(liveTimer);  // a new pass replaces the old one's clock
    liveTimer = setInterval(() => tick().catch((e) => say(`无法生成动态码 · cannot make the live code: ${e.message}`)), 250);
    if (navigator.wakeLock) navigator.wakeLock.request("screen").catch(() => {});
  }

  async function adopt(db, keys, ownKey, text) {
    const pass = await readPass(text);
    if (!pass.holderKey) {
      throw new Error("此通行证未绑定手机，请出示纸质通行证 · This pass is not bound to a phone: show it printed");
    }
    if (!sameBytes(pass.holderKey, ownKey)) {
      throw new Error("此通行证绑定的是另一部手机 · This pass is bound to another phone's key");
    }
    await stored(db, "pass", pass.text);
    say("");
    showLive(keys, pass);
  }

  function passFromFragment() {
    const match = /^#pass=(.+)$/.exec(location.hash);
    if (!match) return null;
    history.replaceState(null, "", location.pathname + location.search);  // not left in history
    try { return decodeURIComponent(match[1]); } catch (e) { return match[1]; }
  }

  async function main() {
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      say("请通过 https 打开此页 · Open this page over https: the browser keeps keys only there");
      return;
    }
    const db = await openStore();
    let keys = await stored(db, "keys");
    if (!keys) {
      try {
        keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      } catch (e) {
        say("此浏览器不支持 Ed25519 密钥，请更新浏览器 · This browser cannot make an Ed25519 key (WebCrypto): update it");
        return;
      }
      await stored(db, "keys", keys);
    }
    const ownKey = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
    const keyText = base64url(ownKey);
    $("holder-key").textContent = keyText;
    drawQr($("key-code"), keyText, 6);
    $("save-pass").addEventListener("click", () => {
      adopt(db, keys, ownKey, $("pass-text").value).catch((e) => say(e.message));
    });
    // A link from the office carries the pass in its #fragment (never sent to any server).
    window.addEventListener("hashchange", () => {
      const linked = passFromFragment();
      if (linked) adopt(db, keys, ownKey, linked).catch((e) => say(e.message));
    });
    const linked = passFromFragment();
    const text = linked || await stored(db, "pass");
    $("enrol").hidden = false;
    if (text) {
      try {
        await adopt(db, keys, ownKey, text);
        return;
      } catch (e) {
        say(e.message);
      }
    }
    document.body.dataset.ready = "enrol";
  }

  main().catch((e) => say(`出错 · error: ${e.message}`));
})();
