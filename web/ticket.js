(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("d").textContent);
  var T = D.t, view = D.view, ws = null, delay = 1000, timer = null, pingTimer = null;
  var waitingPong = false, stopped = false, nextId = 1, audio = null, lastCall = null;
  function $(id) { return document.getElementById(id); }
  function fmt(key, p) {
    return T[key].replace(/\{(\w+)\}/g, function (m, k) { return p && k in p ? p[k] : m; });
  }
  function waitText(v) {
    if (v.wait_unknown && T["js_wait_" + v.wait_unknown]) return T["js_wait_" + v.wait_unknown];
    if (v.wait_range) return fmt("js_wait_range", {lo: v.wait_range[0], hi: v.wait_range[1]});
    return v.wait_minutes >= 1 ? fmt("js_wait", {n: v.wait_minutes}) : T.js_wait_soon;
  }
  function stateText(v) {
    switch (v.status) {
      case "waiting": return v.ahead > 0 ? fmt("js_ahead", {n: v.ahead}) : T.js_ahead_0;
      case "called": return fmt("js_called", {counter: v.counter});
      case "serving": return fmt("js_serving", {counter: v.counter});
      default: return T["js_" + v.status] || v.status;
    }
  }
  function render(v) {
    view = v;
    var final = ["done", "no_show", "cancelled", "expired"].indexOf(v.status) >= 0;
    $("num").textContent = v.number;
    $("dept").textContent = D.lang === "en" ? v.department_en : v.department_vi;
    $("state").textContent = stateText(v);
    $("wait").textContent = v.status === "waiting" ? waitText(v) : "";
    $("main").className = final ? "final" : "";
    var ul = $("serving"), rows = v.serving || [];
    ul.textContent = "";
    rows.forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s.number ? fmt("js_serving_row", s) : fmt("js_serving_idle", s);
      ul.appendChild(li);
    });
    if (!rows.length) { var li = document.createElement("li"); li.textContent = T.js_serving_none; ul.appendChild(li); }
    $("serving-box").hidden = final || v.status === "serving";
    var called = v.status === "called";
    $("call").hidden = !called;
    if (called) {
      $("call-big").textContent = fmt("js_called", {counter: v.counter});
      $("call-sub").textContent = fmt("js_called_sub", {number: v.number, counter: v.counter});
      var key = v.counter + ":" + v.recalls;
      if (lastCall !== key) { lastCall = key; alertCitizen(); }
    } else { lastCall = null; }
    document.title = called ? fmt("js_called", {counter: v.counter}) : fmt("title", {number: v.number});
    $("actions").hidden = final;
    $("leave").hidden = !(v.status === "waiting" || v.status === "called");
    showAlert(v.alert);
  }
  function showAlert(a) {
    var box = $("notify");
    if (!box) return;
    $("notify-form").hidden = !!a;
    $("notify-on").hidden = !a;
    if (a) $("notify-msg").textContent = (a.near === "sent" || a.called === "sent") ? T.js_notify_sent : T.js_notify_ok;
  }
  function touched() {  // browsers allow vibration only after a tap on the page
    return !navigator.userActivation || navigator.userActivation.hasBeenActive;
  }
  function alertCitizen() {
    try { if (navigator.vibrate && touched()) navigator.vibrate([400, 200, 400, 200, 600]); } catch (e) {}
    if (!audio) return;
    try {
      var t = audio.currentTime;
      [0, 0.45, 0.9].forEach(function (d) {
        var o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = 880; o.connect(g); g.connect(audio.destination);
        g.gain.setValueAtTime(0.4, t + d); g.gain.exponentialRampToValueAtTime(0.001, t + d + 0.35);
        o.start(t + d); o.stop(t + d + 0.4);
      });
    } catch (e) {}
  }
  function conn(on) {
    var c = $("conn");
    c.textContent = on ? T.js_live : T.js_offline;
    c.className = on ? "conn" : "conn off";
  }
  function send(msg) {
    if (!ws || ws.readyState !== 1) { $("err").textContent = T.js_offline; return false; }
    msg.id = nextId++; ws.send(JSON.stringify(msg)); return true;
  }
  function connect() {
    if (stopped) return;
    clearTimeout(timer);
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
    try { ws = new WebSocket(url); } catch (e) { schedule(); return; }
    var me = ws;
    ws.onopen = function () {
      me.send(JSON.stringify({type: "hello", role: "citizen", device: "web", token: D.secret, protocol: 1}));
    };
    ws.onmessage = function (e) {
      var m; try { m = JSON.parse(e.data); } catch (x) { return; }
      waitingPong = false;
      if (m.type === "welcome" || m.type === "ticket_updated") { delay = 1000; conn(true); render(m.ticket); }
      else if (m.type === "reply" && m.ticket) { $("err").textContent = ""; render(m.ticket); }
      else if (m.type === "error" && m.code === "bad_token") { gone(); }
      else if (m.type === "error") { $("err").textContent = fmt("js_error", {message: D.lang === "en" ? m.message_en : m.message}); }
    };
    ws.onclose = function (e) {
      if (me !== ws) return;
      ws = null;
      if (e.code === 4001) { gone(); return; }
      conn(false); schedule();
    };
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }
  function gone() {
    stopped = true; if (ws) ws.close();
    $("state").textContent = T.js_gone; $("wait").textContent = "";
    $("actions").hidden = true; $("call").hidden = true; $("conn").textContent = "";
  }
  // A phone that locked its screen often keeps a dead socket: check on
  // waking, and ping now and then so a silent drop is noticed.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden || stopped) return;
    if (!ws || ws.readyState > 1) { delay = 1000; connect(); }
    else { ping(); }
  });
  function ping() {
    if (!ws || ws.readyState !== 1) return;
    if (waitingPong) { ws.close(); return; }
    waitingPong = true; ws.send(JSON.stringify({type: "ping"}));
  }
  pingTimer = setInterval(ping, 25000);
  $("sound").onclick = function () {
    try {
      var A = window.AudioContext || window.webkitAudioContext;
      if (A && !audio) audio = new A();
      if (audio && audio.resume) audio.resume();
    } catch (e) {}
    try { if (navigator.vibrate) navigator.vibrate(60); } catch (e) {}
    this.textContent = T.js_sound_ready;
  };
  $("leave").onclick = function () {
    if (window.confirm(fmt("js_leave_confirm", {number: view.number}))) send({type: "leave"});
  };
  if ($("notify")) {
    $("notify-form").onsubmit = function (e) {
      e.preventDefault();
      send({type: "notify", phone: $("phone").value, lang: D.lang});
    };
    $("notify-off").onclick = function () { send({type: "notify_off"}); };
  }
  $("actions").hidden = false;
  render(view);
  connect();
})();
