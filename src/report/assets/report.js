"use strict";
// rdbinsight report: renders the embedded JSON (#report-data) into tables and a flame graph.
// Offline by design: no request leaves the page.
(function () {
  var errors = 0;
  window.addEventListener("error", function () { errors++; document.body.dataset.errors = String(errors); });
  var R = JSON.parse(document.getElementById("report-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var fmt = function (n) { return Number(n).toLocaleString("en-US"); };
  var bytes = function (n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0; n = Number(n);
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + u[i];
  };
  var el = function (tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  function download(name, text, type) {
    var a = el("a", { href: URL.createObjectURL(new Blob([text], { type: type })), download: name });
    document.body.appendChild(a); a.click(); a.remove();
  }
  function csvCell(v) { v = v === null || v === undefined ? "" : String(v); return /[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }

  // A sortable table with CSV/JSON export and optional search.
  function table(container, name, columns, rows, opts) {
    opts = opts || {};
    var box = $(container);
    var tools = el("div", { "class": "tools" });
    var search = null;
    if (opts.search) { search = el("input", { type: "search", placeholder: "search keys…", id: container + "-search" }); tools.appendChild(search); }
    var csv = el("button", { type: "button" }, "CSV"), json = el("button", { type: "button" }, "JSON");
    tools.appendChild(csv); tools.appendChild(json);
    box.appendChild(tools);
    var t = el("table", { id: container + "-table" }), thead = el("thead"), tbody = el("tbody");
    var hr = el("tr");
    var sortCol = opts.sortCol === undefined ? -1 : opts.sortCol, desc = true;
    columns.forEach(function (c, i) {
      var th = el("th", { "class": c.num ? "n" : "" }, c.title);
      th.addEventListener("click", function () { desc = sortCol === i ? !desc : true; sortCol = i; draw(); });
      hr.appendChild(th);
    });
    thead.appendChild(hr); t.appendChild(thead); t.appendChild(tbody); box.appendChild(t);
    var max = opts.bar ? Math.max.apply(null, rows.map(function (r) { return Number(r[opts.bar]) || 0; }).concat([1])) : 1;
    function visible() {
      var q = search ? search.value.toLowerCase() : "";
      var v = rows.filter(function (r) { return !q || String(r.key || r.name || "").toLowerCase().indexOf(q) >= 0; });
      if (sortCol >= 0) {
        var k = columns[sortCol].key;
        v.sort(function (a, b) { var x = a[k], y = b[k]; var c = x < y ? -1 : x > y ? 1 : 0; return desc ? -c : c; });
      }
      return v;
    }
    function draw() {
      tbody.textContent = "";
      visible().forEach(function (r) {
        var tr = el("tr");
        columns.forEach(function (c) {
          var v = r[c.key];
          var td = el("td", { "class": (c.num ? "n" : "") + (c.mono ? " k" : "") });
          if (c.bar) { var d = el("div", { "class": "bar" }); d.style.width = Math.max(1, 100 * (Number(r[opts.bar]) || 0) / max) + "px"; td.appendChild(d); }
          else td.textContent = c.fmt ? c.fmt(v) : (v === null || v === undefined ? "" : String(v));
          if (c.mono) td.title = String(v);
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
    }
    if (search) search.addEventListener("input", draw);
    csv.addEventListener("click", function () {
      var lines = [columns.filter(function (c) { return !c.bar; }).map(function (c) { return csvCell(c.title); }).join(",")];
      visible().forEach(function (r) { lines.push(columns.filter(function (c) { return !c.bar; }).map(function (c) { return csvCell(r[c.key]); }).join(",")); });
      download(name + ".csv", lines.join("\n") + "\n", "text/csv");
    });
    json.addEventListener("click", function () { download(name + ".json", JSON.stringify(visible(), null, 1), "application/json"); });
    draw();
  }

  function tallies(obj, label) {
    return Object.keys(obj).map(function (k) { return { name: k.replace(/^\d /, ""), keys: obj[k].keys, bytes: obj[k].bytes, _order: k }; });
  }
  var tallyCols = function (label) {
    return [{ title: label, key: "name" }, { title: "keys", key: "keys", num: true, fmt: fmt }, { title: "bytes", key: "bytes", num: true, fmt: bytes }, { title: "", key: "bytes", bar: true }];
  };

  // Header and totals.
  var when = new Date(Math.floor(R.batch_unix_nanos / 1e6)).toISOString();
  $("meta").textContent = "cluster " + R.cluster + " · batch " + when + " · " + R.source;
  var cards = [["total-keys", fmt(R.total.keys), "keys"], ["total-bytes", bytes(R.total.bytes), "bytes in the RDB"],
    ["total-instances", fmt(Object.keys(R.by_instance).length), "instances"], ["total-dbs", fmt(Object.keys(R.by_db).length), "databases"]];
  cards.forEach(function (c) {
    var d = el("div", { "class": "card" });
    d.appendChild(el("div", { "class": "v", id: c[0] }, c[1])); d.appendChild(el("div", { "class": "l" }, c[2]));
    $("totals").appendChild(d);
  });
  $("total-keys").dataset.value = String(R.total.keys);
  $("total-bytes").dataset.value = String(R.total.bytes);

  table("by-type", "by-type", tallyCols("type"), tallies(R.by_type), { sortCol: 2, bar: "bytes" });
  table("by-encoding", "by-encoding", tallyCols("type/encoding"), tallies(R.by_encoding), { sortCol: 2, bar: "bytes" });
  table("by-db", "by-db", tallyCols("db"), tallies(R.by_db), { bar: "bytes" });
  table("by-instance", "by-instance", tallyCols("instance"), tallies(R.by_instance), { sortCol: 2, bar: "bytes" });
  table("ttl", "ttl", tallyCols("TTL"), tallies(R.ttl), { bar: "keys" });
  if (Object.keys(R.idle).length) table("idle", "idle", tallyCols("idle"), tallies(R.idle), { bar: "keys" });
  else $("idle").appendChild(el("p", { "class": "muted" }, "No LRU idle times in this snapshot (maxmemory-policy not LRU)."));
  if (Object.keys(R.freq).length) table("freq", "freq", tallyCols("LFU counter"), tallies(R.freq), { bar: "keys" });
  else $("freq").appendChild(el("p", { "class": "muted" }, "No LFU counters in this snapshot (maxmemory-policy not LFU)."));
  function slotTable(id, slots, total) {
    var rows = tallies(slots).map(function (r) { r.name = Number(r.name); return r; });
    if (!rows.length) { $(id).appendChild(el("p", { "class": "muted" }, "No slot information for this source.")); return; }
    var n = rows.length, mean = R.total.keys / total, maxKeys = Math.max.apply(null, rows.map(function (r) { return r.keys; }));
    $(id).appendChild(el("p", { "class": "muted" }, n + " of " + total + " slots hold keys; busiest slot " + fmt(maxKeys) + " keys, " + (maxKeys / mean).toFixed(1) + "x the mean."));
    rows.sort(function (a, b) { return b.keys - a.keys; });
    table(id, id, tallyCols("slot"), rows.slice(0, 50), { sortCol: 1, bar: "keys" });
  }
  slotTable("redis-slots", R.redis_slots, 16384);
  slotTable("codis-slots", R.codis_slots, 1024);

  var keyCols = [{ title: "key", key: "key", mono: true }, { title: "type", key: "type" }, { title: "encoding", key: "encoding" },
    { title: "members", key: "member_count", num: true, fmt: fmt }, { title: "RDB bytes", key: "rdb_size", num: true, fmt: bytes },
    { title: "db", key: "db", num: true }, { title: "instance", key: "instance" },
    { title: "expires", key: "expire_at", fmt: function (v) { return v === null || v === undefined ? "" : new Date(v).toISOString(); } }];
  table("top-size", "biggest-keys-by-size", keyCols, R.top_by_size, { search: true, sortCol: 4 });
  table("top-members", "biggest-keys-by-members", keyCols, R.top_by_members, { search: true, sortCol: 3 });

  // Flame graph (icicle): click a node to zoom, the top row to zoom out.
  var metric = "bytes", focus = R.prefixes;
  var parents = new Map();
  (function index(n) { (n.children || []).forEach(function (c) { parents.set(c, n); index(c); }); })(R.prefixes);
  function pathOf(n) { var p = []; while (n) { p.unshift(n.name); n = parents.get(n); } return p.slice(1).join(""); }
  function drawFlame() {
    var box = $("flame"); box.textContent = "";
    var width = box.clientWidth || 1200, depth = 0, count = 0;
    function place(n, x, w, d) {
      if (w < 2) return;
      var v = el("div", { "class": "fg-node", title: (pathOf(n) || "(all)") + " — " + fmt(n.keys) + " keys, " + bytes(n.bytes) });
      v.style.left = x + "px"; v.style.top = (d * 20) + "px"; v.style.width = w + "px";
      var hue = (n.name.split("").reduce(function (h, c) { return (h * 31 + c.charCodeAt(0)) % 360; }, 7));
      v.style.background = "hsl(" + hue + ",55%," + (d ? 72 : 85) + "%)";
      v.textContent = n.name + " " + (metric === "bytes" ? bytes(n.bytes) : fmt(n.keys));
      v.addEventListener("click", function () { focus = d === 0 && parents.get(n) ? parents.get(n) : n; drawFlame(); });
      box.appendChild(v); count++;
      depth = Math.max(depth, d + 1);
      var total = n[metric] || 1, cx = x;
      (n.children || []).forEach(function (c) { var cw = w * (c[metric] / total); place(c, cx, cw, d + 1); cx += cw; });
    }
    place(focus, 0, width, 0);
    box.style.height = (depth * 20 + 2) + "px";
    box.dataset.nodes = String(count);
  }
  $("flame-bytes").addEventListener("click", function () { metric = "bytes"; drawFlame(); });
  $("flame-keys").addEventListener("click", function () { metric = "keys"; drawFlame(); });
  $("flame-reset").addEventListener("click", function () { focus = R.prefixes; drawFlame(); });
  drawFlame();
  window.addEventListener("resize", drawFlame);
  document.body.dataset.errors = String(errors);
  document.body.dataset.ready = "1";
})();
