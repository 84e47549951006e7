// perpdex dashboard: reads /api/live/* once, then follows /api/live/stream (Server-Sent Events).
// Read-only. Every value from the server is written with textContent (never parsed as HTML).
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };

  // -- formatting -----------------------------------------------------------------------------------
  const num = (x) => (x === null || x === undefined ? null : Number(x));
  const signClass = (x) => (x === null ? "" : x > 0 ? "pos" : x < 0 ? "neg" : "");
  const usd = (x, digits = 2) => {
    const v = num(x);
    if (v === null || Number.isNaN(v)) return "n/a";
    return (v > 0 ? "+" : v < 0 ? "−" : "") + Math.abs(v).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits });
  };
  const pct = (x, digits = 1) => {
    const v = num(x);
    if (v === null || Number.isNaN(v)) return "n/a";
    return (v * 100).toFixed(digits) + " %";
  };
  const price = (x) => {
    const v = num(x);
    if (v === null) return "n/a";
    return v.toLocaleString("en-US", { maximumSignificantDigits: 7 });
  };
  const size = (x) => (num(x) === null ? "n/a" : Number(x).toLocaleString("en-US", { maximumFractionDigits: 8 }));
  const age = (s) => {
    if (s === null || s === undefined) return "n/a";
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
    return `${s}s`;
  };
  const clock = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "n/a");
  const utc = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "n/a");

  // -- fetching -------------------------------------------------------------------------------------
  async function api(path) {
    const r = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (r.status === 401) { window.location.href = "/login"; throw new Error("login required"); }
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  // -- status and connection ------------------------------------------------------------------------
  function setConn(state, text) {
    const c = $("#conn");
    c.dataset.state = state;
    c.textContent = text;
  }

  function renderStatus(st) {
    const box = $("#run");
    if (!st.attached) {
      box.textContent = `no run attached (storage only) · exchanges: ${st.exchanges.join(", ")}`;
      return;
    }
    const strategies = st.strategies.map((s) => `${s.name} (${s.kind})`).join(", ");
    box.textContent = `running ${strategies} on ${st.exchanges.join(", ")}` +
      (st.account ? ` · account ${st.account}` : "") + ` · up ${age(st.uptime_s)}`;
  }

  // -- positions ------------------------------------------------------------------------------------
  function money(x, digits) {
    return el("td", { class: "num " + signClass(num(x)), text: usd(x, digits) });
  }

  function withField(td, name) {
    td.setAttribute("data-field", name);
    return td;
  }

  function renderPositions(data) {
    const body = $("#positions tbody");
    body.replaceChildren();
    for (const p of data.positions) {
      const head = el("tr", { class: "total", "data-position-id": String(p.id) },
        el("td", { text: `#${p.id}` }), el("td", { text: p.symbol }), el("td", { text: p.status }),
        el("td", { "data-field": "age", text: age(p.age_s) }),
        el("td", { text: p.legs.map((l) => `${l.role} ${l.exchange}`).join(" / ") }),
        el("td", { class: "num", text: "" }), el("td", { class: "num", text: "" }), el("td", { class: "num", text: "" }),
        money(p.unrealized_pnl), Object.assign(money(p.funding, 4), { title: `${p.funding_payments} payments` }),
        money(-num(p.fees), 4), money(p.net), el("td", { class: "num", text: "" }));
      head.children[9].setAttribute("data-field", "funding");
      head.children[11].setAttribute("data-field", "net");
      body.append(head);
      for (const l of p.legs) {
        const dist = num(l.liquidation_distance);
        const distCell = el("td", { class: "num " + (dist !== null && dist < 0.1 ? "neg" : ""),
          text: dist === null ? "n/a" : pct(dist),
          title: l.liquidation_price ? `liquidation at ${price(l.liquidation_price)}` : "liquidation price not known" });
        body.append(el("tr", { class: "leg", "data-leg": `${p.id}-${l.role}` },
          el("td", { text: "" }), el("td", { text: "" }), el("td", { text: "" }), el("td", { text: "" }),
          el("td", { text: `${l.role} ${l.exchange}` }), el("td", { class: "num", text: size(l.size) }),
          el("td", { class: "num", text: price(l.entry_price) }),
          el("td", { class: "num", text: price(l.mark_price), title: l.mark_source ? `mark: ${l.mark_source}` : "" }),
          money(l.unrealized_pnl), withField(money(l.funding, 4), "leg-funding"),
          money(-num(l.fees), 4), money(l.net), distCell));
      }
    }
    $("#positions-empty").hidden = data.positions.length > 0;
    $("#positions-note").textContent = data.attached ? "" : "(from storage, at the stored marks)";
  }

  // -- funding heatmap ------------------------------------------------------------------------------
  const heat = { sortKey: null, asc: false, data: null };

  function heatColor(apr) {
    // diverging: red for negative (longs are paid), green for positive (shorts are paid); saturates at ±100 % APR
    const t = Math.max(-1, Math.min(1, apr));
    const a = Math.abs(t), base = [38, 48, 64];
    const to = t >= 0 ? [35, 134, 54] : [187, 45, 45];
    const c = base.map((b, i) => Math.round(b + (to[i] - b) * Math.sqrt(a)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function renderHeatmap(data) {
    heat.data = data;
    const byKey = new Map(data.cells.map((c) => [`${c.symbol}|${c.exchange}`, c]));
    const spread = (sym) => {
      const v = data.exchanges.map((ex) => byKey.get(`${sym}|${ex}`)).filter(Boolean).map((c) => Number(c.apr));
      return v.length > 1 ? Math.max(...v) - Math.min(...v) : null;
    };
    let rows = [...data.symbols];
    const key = heat.sortKey;
    if (key === "symbol") rows.sort((a, b) => a.localeCompare(b) * (heat.asc ? 1 : -1));
    else if (key) {
      const val = (sym) => (key === "spread" ? spread(sym) : (byKey.get(`${sym}|${key}`) ? Number(byKey.get(`${sym}|${key}`).apr) : null));
      rows.sort((a, b) => {
        const va = val(a), vb = val(b);
        if (va === null && vb === null) return 0;
        if (va === null) return 1;
        if (vb === null) return -1;
        return (va - vb) * (heat.asc ? 1 : -1);
      });
    }
    const th = (label, k, cls) => {
      const h = el("th", { class: "sortable " + (cls || "") + (heat.sortKey === k ? " sorted" + (heat.asc ? " asc" : "") : ""),
        text: label, "data-sort": k });
      h.addEventListener("click", () => {
        heat.asc = heat.sortKey === k ? !heat.asc : k === "symbol";
        heat.sortKey = k;
        renderHeatmap(heat.data);
      });
      return h;
    };
    $("#heatmap thead").replaceChildren(el("tr", null, th("symbol", "symbol"),
      ...data.exchanges.map((ex) => th(ex, ex, "num")), th("spread", "spread", "num")));
    const body = $("#heatmap tbody");
    body.replaceChildren();
    for (const sym of rows) {
      const tr = el("tr", { "data-symbol": sym }, el("th", { text: sym }));
      for (const ex of data.exchanges) {
        const c = byKey.get(`${sym}|${ex}`);
        if (!c) { tr.append(el("td", { class: "empty", text: "·" })); continue; }
        const td = el("td", { class: "cell", "data-symbol": sym, "data-exchange": ex, text: pct(c.apr),
          title: `${sym} on ${ex}\nAPR ${pct(c.apr, 2)}\nrate ${pct(c.rate_per_interval, 4)} per ${Number(c.interval_hours)}h` +
            ` (8h: ${pct(c.rate_8h, 4)})\ninterval ${Number(c.interval_hours)}h\nnext funding ${utc(c.next_funding_time)}` +
            (c.mark_price ? `\nmark ${price(c.mark_price)}` : "") });
        td.style.background = heatColor(Number(c.apr));
        tr.append(td);
      }
      const s = spread(sym);
      tr.append(el("td", { class: "num", text: s === null ? "·" : pct(s) }));
      body.append(tr);
    }
    const errs = Object.entries(data.errors || {}).map(([ex, why]) => `${ex}: ${why}`).join("; ");
    $("#funding-note").textContent = (data.collected_at ? `(${data.source}, ${clock(data.collected_at)} UTC)` : "(no rate yet)") +
      (errs ? ` · ${errs}` : "");
  }

  // -- opportunities --------------------------------------------------------------------------------
  function renderOpportunities(data) {
    const body = $("#opportunities tbody");
    body.replaceChildren();
    const min = num(data.min_net_apr);
    for (const o of data.opportunities) {
      const above = min !== null && Number(o.net_apr) >= min;
      body.append(el("tr", { class: above ? "above" : "" },
        el("td", { text: o.symbol }), el("td", { text: o.long_exchange }), el("td", { text: o.short_exchange }),
        el("td", { class: "num", text: pct(o.spread_8h, 4) }), el("td", { class: "num", text: pct(o.gross_apr) }),
        el("td", { class: "num", text: pct(o.fee_apr) }),
        el("td", { class: "num " + signClass(Number(o.net_apr)), text: pct(o.net_apr) }),
        el("td", { class: "muted", text: o.held ? "held" : above ? "≥ entry threshold" : "" })));
    }
    $("#opps-note").textContent = `(fees over ${Number(data.hold_hours)}h` +
      (min !== null ? `, entry at ≥ ${pct(min, 0)})` : ")");
  }

  // -- grids ----------------------------------------------------------------------------------------
  function orderTable(title, orders) {
    const t = el("table", null, el("thead", null, el("tr", null, el("th", { text: title }), el("th", { text: "side" }),
      el("th", { class: "num", text: "price" }), el("th", { class: "num", text: "size" }),
      el("th", { class: "num", text: "filled" }), el("th", { text: "status" }))));
    const b = el("tbody");
    for (const o of orders) {
      b.append(el("tr", null, el("td", { text: clock(o.created_at) }), el("td", { text: o.side }),
        el("td", { class: "num", text: price(o.price) }), el("td", { class: "num", text: size(o.quantity) }),
        el("td", { class: "num", text: size(o.filled) }), el("td", { text: o.status })));
    }
    if (!orders.length) b.append(el("tr", null, el("td", { class: "muted", text: "none", colSpan: 6 })));
    t.append(b);
    return t;
  }

  function renderGrid(data) {
    $("#grid-box").hidden = data.grids.length === 0;
    const box = $("#grids");
    box.replaceChildren();
    for (const g of data.grids) {
      const facts = [
        ["state", g.halted ? "halted" : g.paused ? `paused: ${g.paused}` : "running"],
        ["round trips", String(g.round_trips)], ["realized PnL", usd(g.realized_pnl, 4)],
        ["price PnL", usd(g.closed_price_pnl, 4)], ["fees", usd(-num(g.fees), 4)], ["funding", usd(g.funding, 4)],
        ["open size", size(g.open_quantity)], ["avg entry", price(g.avg_entry)], ["mark", price(g.mark_price)],
        ["unrealized", usd(g.unrealized_pnl, 4)],
      ];
      const dl = el("dl");
      for (const [k, v] of facts) dl.append(el("dt", { text: k }), el("dd", { text: v }));
      box.append(el("div", { class: "grid-card", "data-grid": g.name },
        el("h3", { text: `${g.name}: ${g.direction} grid on ${g.exchange} ${g.symbol}` }), dl,
        orderTable(`resting entries (${g.resting_entries.length})`, g.resting_entries),
        orderTable(`resting take-profits (${g.resting_take_profits.length})`, g.resting_take_profits)));
    }
  }

  // -- streams --------------------------------------------------------------------------------------
  function renderStreams(data) {
    const body = $("#streams tbody");
    body.replaceChildren();
    for (const s of data.streams) {
      const stale = s.frame_age_s !== null && s.frame_age_s > 30;
      body.append(el("tr", { "data-stream": `${s.exchange}-${s.kind}` },
        el("td", { text: s.exchange }), el("td", { text: s.kind === "market" ? "market feed" : "user stream" }),
        el("td", null, el("span", { class: `badge ${s.state}`, text: s.state })),
        el("td", { class: "num " + (stale ? "warn" : ""), text: s.frame_age_s === null ? "n/a" : `${s.frame_age_s.toFixed(1)} s ago` }),
        el("td", { class: "num", text: String(s.frames) }),
        el("td", { class: "num " + (s.reconnects ? "warn" : ""), text: String(s.reconnects) }),
        el("td", { class: "num", text: s.books === null ? "" : `${s.books_ready}/${s.books}` })));
    }
    $("#streams-empty").hidden = data.attached;
  }

  // -- events ---------------------------------------------------------------------------------------
  const MAX_EVENTS = 200;

  function eventItem(ev) {
    return el("li", { class: ev.level, "data-kind": ev.kind },
      el("span", { class: "ts", text: clock(ev.ts) }), el("span", { class: "kind", text: ev.kind }),
      el("span", { class: "msg", text: ev.message }));
  }

  function renderEvents(data) {
    const list = $("#events");
    list.replaceChildren(...data.events.slice().reverse().map(eventItem));
    $("#events-empty").hidden = data.events.length > 0;
  }

  function addEvent(ev) {
    const list = $("#events");
    list.prepend(eventItem(ev));
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
    $("#events-empty").hidden = true;
    if (/^position_|^funding/.test(ev.kind) || /^funding /.test(ev.message)) schedulePnl();
  }

  // -- cumulative PnL chart (uPlot) -----------------------------------------------------------------
  let chart = null;
  let pnlTimer = null;

  function renderPnl(data) {
    const xs = data.points.map((p) => new Date(p.ts).getTime() / 1000);
    const ys = data.points.map((p) => Number(p.pnl));
    $("#pnl-total").textContent = `${usd(data.total, 4)} USD (funding ${usd(data.funding, 4)}, fees ${usd(-num(data.fees), 4)},` +
      ` price ${usd(data.price_pnl, 4)})`;
    $("#pnl-empty").hidden = xs.length > 0;
    const box = $("#pnl-chart");
    if (!xs.length) return;
    if (xs.length === 1) { xs.unshift(xs[0] - 1); ys.unshift(0); }
    const width = Math.max(300, box.clientWidth || 600);
    if (chart === null) {
      chart = new uPlot({
        width, height: 220,
        scales: { x: { time: true } },
        axes: [{ stroke: "#8b96a3", grid: { stroke: "#263040" } },
               { stroke: "#8b96a3", grid: { stroke: "#263040" }, size: 70 }],
        series: [{}, { label: "PnL (USD)", stroke: "#79c0ff", width: 2, fill: "rgba(121,192,255,0.12)",
                       value: (u, v) => (v === null ? "" : usd(v, 4)) }],
      }, [xs, ys], box);
    } else {
      chart.setData([xs, ys]);
    }
  }

  async function loadPnl() {
    if (lostAt !== null) return;  // reloaded on reconnect
    try { renderPnl(await api("/api/live/pnl")); } catch (e) { /* the next update retries */ }
  }

  function schedulePnl() {
    if (pnlTimer === null) pnlTimer = setTimeout(() => { pnlTimer = null; loadPnl(); }, 1500);
  }

  // -- state ----------------------------------------------------------------------------------------
  function applyState(s) {
    renderStatus(s.status);
    renderPositions(s.positions);
    renderHeatmap(s.funding);
    renderOpportunities(s.opportunities);
    renderGrid(s.grid);
    renderStreams(s.streams);
  }

  async function loadAll() {
    const [status, funding, opps, positions, grid, streams, events] = await Promise.all([
      api("/api/live/status"), api("/api/live/funding"), api("/api/live/opportunities?limit=12"), api("/api/live/positions"),
      api("/api/live/grid"), api("/api/live/streams"), api("/api/live/events")]);
    applyState({ status, funding, opportunities: opps, positions, grid, streams });
    renderEvents(events);
    await loadPnl();
  }

  // -- live updates: Server-Sent Events, reconnected with back-off --------------------------------------
  let source = null;
  let retryMs = 1000;
  let lostAt = null;

  function connect() {
    setConn(lostAt ? "lost" : "connecting", lostAt ? `connection lost at ${lostAt}, reconnecting…` : "connecting…");
    source = new EventSource("/api/live/stream");
    source.addEventListener("open", () => {
      const wasLost = lostAt !== null;
      lostAt = null;
      retryMs = 1000;
      setConn("live", "live");
      if (wasLost) loadAll().catch(() => {});  // what happened while away (events, PnL)
    });
    source.addEventListener("state", (e) => applyState(JSON.parse(e.data)));
    source.addEventListener("event", (e) => addEvent(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      if (lostAt === null) lostAt = new Date().toISOString().slice(11, 19);
      setConn("lost", `connection lost at ${lostAt}, reconnecting…`);
      if (source.readyState === EventSource.CLOSED) {  // the browser gave up: retry ourselves
        source.close();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 15000);
      }
    });
  }

  window.addEventListener("resize", () => {
    if (chart !== null) chart.setSize({ width: Math.max(300, $("#pnl-chart").clientWidth), height: 220 });
  });
  setInterval(loadPnl, 30000);

  loadAll().catch((e) => { $("#run").textContent = `could not load: ${e.message}`; }).finally(connect);
})();
