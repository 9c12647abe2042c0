// The run view: draws the run in #run-data. No network: everything it needs is in this page.
// Sub-calls and child runs are built only when opened (or found by the search), so a run of
// thousands of sub-calls opens at once.
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("run-data").textContent);
  const ROOT = DATA.run;
  const PAGE = 100; // sub-call rows built per click
  const SEARCH_LIMIT = 50;
  const SVG = "http://www.w3.org/2000/svg"; // a namespace name, never fetched

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") n.className = v;
        else if (k === "text") n.textContent = v;
        else if (k === "code") n.innerHTML = v; // Pygments output, escaped by the viewer
        else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v);
      }
    }
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      n.append(kid instanceof Node ? kid : String(kid));
    }
    return n;
  }
  const fmtInt = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US"));
  // "unpriced": a model without a price, its cost unknown (never shown as $0)
  const fmtUsd = (x) => (x === "unpriced" ? x : x === null || x === undefined ? "–" : "$" + Number(x).toFixed(Number(x) >= 1 ? 2 : 4));
  const fmtS = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(2) + " s");
  const plural = (n, word) => `${fmtInt(n)} ${n === 1 ? word : word.endsWith("y") ? word.slice(0, -1) + "ies" : word + "s"}`;
  function preview(s, n) {
    s = String(s || "").replace(/\s+/g, " ").trim();
    return s.length > n ? s.slice(0, n) + "…" : s;
  }
  function badge(status) {
    const s = String(status || "?");
    const cls = s === "ok" ? "ok" : s.startsWith("max_") ? "stop" : "bad";
    return el("span", { class: "badge " + cls, text: s });
  }
  function cutNote(n, what) {
    return el("div", { class: "cutnote", text: `… ${fmtInt(n)} more characters of ${what || "this text"} are in the trajectory` });
  }
  function textBlock(text, q, cls) {
    const pre = el("pre", { class: cls || "out" });
    text = String(text || "");
    if (!q) {
      pre.textContent = text;
      return pre;
    }
    const lower = text.toLowerCase();
    let at = 0, i, count = 0;
    while ((i = lower.indexOf(q, at)) >= 0 && count < 500) {
      pre.append(text.slice(at, i), el("mark", { text: text.slice(i, i + q.length) }));
      at = i + q.length;
      count++;
    }
    pre.append(text.slice(at));
    return pre;
  }
  // a <details> whose body is built the first time it opens
  function lazyDetails(cls, summary, fill, open) {
    const d = el("details", { class: cls }, el("summary", null, ...summary));
    const body = el("div", { class: "body" });
    d.append(body);
    let built = false;
    const build = () => {
      if (!built) {
        built = true;
        fill(body);
      }
    };
    d.addEventListener("toggle", () => { if (d.open) build(); });
    if (open) {
      d.open = true;
      build();
    }
    return d;
  }

  function turnLabel(t) {
    if (typeof t === "number") return `turn ${t}`;
    if (t === "notes") return "notes turn";
    if (t === "last") return "last call (a budget was spent)";
    return String(t);
  }

  function sourceText(p) {
    const s = p.source;
    const range = s.end !== undefined ? `characters ${fmtInt(s.start)}–${fmtInt(s.end)}` : `from character ${fmtInt(s.start)}`;
    const lead = s.prompt_offset ? `after ${fmtInt(s.prompt_offset)} characters of instructions, ` : "";
    return `${lead}${s.prompt_offset ? "the rest" : "the prompt"} is ${range} of ${s.source}`;
  }

  function promptNode(p, q) {
    const box = el("div", { class: "prompt" });
    if (!p) return box;
    if (p.text !== undefined) {
      box.append(el("div", { class: "meta", text: `prompt · ${fmtInt(p.chars)} characters` }), textBlock(p.text, q));
      if (p.cut) box.append(cutNote(p.cut, "the prompt"));
    } else if (p.head !== undefined) {
      const gap = Math.max(0, p.chars - p.head.length - p.tail.length);
      box.append(el("div", { class: "meta", text: `prompt · ${fmtInt(p.chars)} characters: its head and tail are kept, not the ${fmtInt(gap)} in between` }));
      box.append(el("div", { class: "src", text: p.source ? sourceText(p) : "where its text came from was not found in the run's context files" }));
      box.append(textBlock(`${p.head}\n… [${fmtInt(gap)} characters not stored again] …\n${p.tail}`, q));
    } else {
      box.append(el("div", { class: "meta", text: `prompt of ${fmtInt(p.chars)} characters (not recorded)` }));
    }
    return box;
  }

  function subcallNode(run, sc, q, open) {
    const cell = run.cells[String(sc.cell)];
    const summary = [
      el("span", { class: "n", text: `#${sc.i + 1} ` }),
      `${sc.model} · ${fmtInt(sc.pt)}+${fmtInt(sc.ct)} tok · ${fmtS(sc.lat)} · ${fmtUsd(sc.cost)}${sc.hit ? " · cached" : ""} `,
      el("span", { class: "pv", text: "→ " + preview(sc.error ? "error: " + sc.error : sc.reply, 140) }),
    ];
    return lazyDetails("sc", summary, (body) => {
      const where = `${run.depth ? "sub-run " + run.id : "root run"} · cell ${sc.cell}${cell ? " · " + turnLabel(cell.turn) : ""}`;
      body.append(el("div", { class: "meta", text: `${where} · depth ${sc.depth} · ${plural(sc.attempts || 1, "attempt")} · at ${fmtS(sc.t)}` }));
      body.append(promptNode(sc.prompt, q));
      body.append(el("div", { class: "meta", text: "answer" }));
      if (sc.error) body.append(el("pre", { class: "err", text: sc.error }));
      else {
        body.append(textBlock(sc.reply, q));
        if (sc.reply_cut) body.append(cutNote(sc.reply_cut, "the answer"));
      }
    }, open);
  }

  function subcallList(run, indices) {
    const scs = indices.map((i) => run.subcalls[i]);
    let tokens = 0, cost = 0, slowest = 0, failed = 0, unpriced = false;
    for (const s of scs) {
      tokens += (s.pt || 0) + (s.ct || 0);
      if (s.cost === "unpriced") unpriced = true;
      else cost += s.cost || 0;
      slowest = Math.max(slowest, s.lat || 0);
      if (s.error) failed++;
    }
    const summary = [`${plural(scs.length, "sub-call")} · ${fmtInt(tokens)} tokens · ${unpriced ? (cost ? fmtUsd(cost) + " + unpriced" : "unpriced") : fmtUsd(cost)} · slowest ${fmtS(slowest)}${failed ? ` · ${failed} failed` : ""}`];
    return lazyDetails("group subcalls", summary, (body) => {
      let shown = 0;
      const more = el("button", { type: "button" });
      const moreBox = el("div", { class: "more" }, more);
      body.append(moreBox);
      const next = () => {
        const end = Math.min(scs.length, shown + PAGE);
        const frag = document.createDocumentFragment();
        for (; shown < end; shown++) frag.append(subcallNode(run, scs[shown]));
        moreBox.before(frag);
        if (shown >= scs.length) moreBox.remove();
        else more.textContent = `show ${fmtInt(Math.min(PAGE, scs.length - shown))} more (${fmtInt(scs.length - shown)} left)`;
      };
      more.addEventListener("click", next);
      next();
    });
  }

  function childNode(child) {
    const r = child.run;
    const turns = r ? r.turns.filter((t) => typeof t.turn === "number").length : 0;
    const summary = [
      "sub-run ", el("span", { class: "meta", text: child.id }), " ", badge(child.status || (r && r.status)),
      r ? ` · ${plural(turns, "turn")} · ${fmtInt(r.totals && r.totals.tokens)} tokens · ${fmtUsd(r.totals && r.totals.cost_usd)} ` : " ",
      el("span", { class: "pv", text: "→ " + preview(r ? r.answer : "", 120) }),
    ];
    return lazyDetails("child", summary, (body) => {
      body.append(el("div", { class: "meta", text: "asked with" }), promptNode(child.prompt));
      if (r) renderRun(r, body);
      else body.append(el("div", { class: "meta", text: "its trajectory is not in the runs directory" }));
    });
  }

  function notesOps(ops) {
    const ul = el("ul", { class: "notes" });
    for (const op of ops) {
      const req = op.request || {};
      const what = req.title ? `${req.title}: ${req.text || ""}` : req.text || "";
      ul.append(el("li", null, el("b", { text: op.op }), ` ${op.message || ""}`, what ? el("span", { class: "pv", text: ` — ${preview(what, 300)}` }) : null));
    }
    return ul;
  }

  // ----- evidence: the verified citations (cite) -----
  const evAnchor = (run, id) => `${run.id}-ev-${id}`;
  const cellAnchor = (run, cell) => `${run.id}-cell-${cell}`;
  function evWhere(ev) {
    let text = String(ev.document || "?") + (ev.page ? ` ${ev.page}` : "");
    const lines = ev.lines;
    if (lines && lines.length === 2) text += lines[0] === lines[1] ? `, line ${fmtInt(lines[0])}` : `, lines ${fmtInt(lines[0])}-${fmtInt(lines[1])}`;
    else text += `, bytes ${fmtInt(ev.start)}-${fmtInt(ev.end)}`;
    return text;
  }
  function evLink(run, id) {
    return el("a", { class: "evref", href: `#${evAnchor(run, id)}`, text: `[E${id}]` });
  }
  // the answer's text with each "[E3]" it names made a link to that citation
  function answerText(run, text, node) {
    const known = new Set((run.evidence || []).map((ev) => ev.id));
    const re = /\[E(\d+)\]/g;
    let at = 0, m;
    while ((m = re.exec(text)) !== null) {
      const id = Number(m[1]);
      if (!known.has(id)) continue;
      node.append(text.slice(at, m.index), evLink(run, id));
      at = m.index + m[0].length;
    }
    node.append(text.slice(at));
    return node;
  }
  // the quote marked inside the lines around it in its document (as the viewer read them again)
  function quoteInContext(ev) {
    const box = el("div", { class: "evctx" });
    const a = ev.around;
    const pre = el("pre", { class: "ctx" });
    if (a) {
      box.append(el("div", { class: "meta", text: `in ${ev.document}${a.first_line ? `, from line ${fmtInt(a.first_line)}` : ""}` }));
      // "lines": whole lines left out (a "…" line); "part": the piece shown is part of a line
      if (a.more_before) pre.append(el("span", { class: "gap", text: a.more_before === "lines" ? "…\n" : "…" }));
      pre.append(a.before, el("mark", { class: "quote", text: ev.quote }), a.after);
      if (a.more_after) pre.append(el("span", { class: "gap", text: a.more_after === "lines" ? "\n…" : "…" }));
      box.append(pre);
    } else {
      pre.append(el("mark", { class: "quote", text: ev.quote }));
      box.append(pre, el("div", { class: "meta", text: "the text around it is not in the run's files to show (an extracted document, a context not stored, or files changed since)" }));
    }
    return box;
  }
  function evidenceNode(run, target) {
    const list = run.evidence || [];
    if (!list.length) return false;
    target.append(el("h2", { text: `Evidence (${list.length})` }));
    target.append(el("div", { class: "meta", text: "each quote was checked on the host against the context's own bytes; shown in the lines around it" }));
    for (const ev of list) {
      const n = el("div", { class: "ev", id: evAnchor(run, ev.id) });
      const head = el("div", { class: "evhead" }, el("b", { class: "evid", text: `[E${ev.id}]` }), " ", el("span", { class: "where", text: evWhere(ev) }));
      if (ev.cell !== null && ev.cell !== undefined) {
        const where = `cell ${ev.cell}${ev.turn !== null && ev.turn !== undefined ? " · " + turnLabel(ev.turn) : ""}`;
        head.append(" · cited in ", run.cells[String(ev.cell)] ? el("a", { href: `#${cellAnchor(run, ev.cell)}`, text: where }) : where);
      }
      n.append(head);
      if (ev.note) n.append(el("div", { class: "evnote", text: `note: ${ev.note}` }));
      n.append(quoteInContext(ev));
      target.append(n);
    }
    return true;
  }
  // what a cell cited: kept ones (verified, linked to the evidence) and refused ones with why
  function cellCitations(run, cell) {
    const ul = el("ul", { class: "cites" });
    for (const index of cell.citations || []) {
      const c = run.citations[index];
      if (c.id !== null && c.id !== undefined && c.evidence) {
        const ev = c.evidence;
        ul.append(el("li", { class: "kept" }, el("span", { class: "tag ok", text: "verified" }), " ", evLink(run, c.id), ` ${evWhere(ev)}: `,
          el("mark", { class: "quote", text: preview(ev.quote, 300) })));
      } else {
        const claim = c.claim || {};
        const place = claim.start !== null && claim.start !== undefined ? ` (${claim.context || "context"} bytes ${fmtInt(claim.start)}-${fmtInt(claim.end)})` : "";
        ul.append(el("li", { class: "refused" }, el("span", { class: "tag bad", text: "refused" }), ` ${c.refused || "refused"}`,
          claim.quote ? el("span", { class: "pv" }, " — claimed ", el("q", { text: preview(claim.quote, 300) }), place) : null));
      }
    }
    return ul;
  }

  function cellNode(run, cell) {
    const n = el("div", { class: "cell", id: cellAnchor(run, cell.cell) });
    const flags = [cell.timed_out ? "timed out" : "", cell.restarted ? "the kernel was restarted" : "", cell.truncated ? "output cut" : "",
      cell.final !== null && cell.final !== undefined ? "set the final answer" : ""].filter(Boolean);
    n.append(el("div", { class: "head", text: [`cell ${cell.cell}`, fmtS(cell.duration_s), ...flags].join(" · ") }));
    n.append(el("pre", { class: "code", code: cell.code }));
    if (cell.stdout) {
      n.append(el("pre", { class: "out", text: cell.stdout }));
      if (cell.stdout_cut) n.append(cutNote(cell.stdout_cut, "the output"));
    } else n.append(el("div", { class: "meta", text: "(no output)" }));
    if (cell.error) n.append(el("pre", { class: "err", text: cell.error }));
    if ((cell.citations || []).length) n.append(el("div", { class: "meta", text: "citations" }), cellCitations(run, cell));
    if (cell.notes.length) n.append(el("div", { class: "meta", text: "notes" }), notesOps(cell.notes));
    for (const cid of cell.children) n.append(childNode(run.children[cid]));
    if (cell.subcalls.length) n.append(subcallList(run, cell.subcalls));
    return n;
  }

  function turnNode(run, turn) {
    const n = el("section", { class: "turn", id: `${run.id}-turn-${turn.turn}` });
    const head = el("div", { class: "head" }, el("span", { class: "n", text: turnLabel(turn.turn) }));
    for (const c of turn.calls) {
      head.append(el("span", { class: "meta", text: `${c.model} · ${fmtS(c.latency_s)} · ${fmtInt(c.prompt_tokens)}+${fmtInt(c.completion_tokens)} tok · ${fmtUsd(c.cost_usd)}${c.cache_hit ? " · cached" : ""}${(c.attempts || 1) > 1 ? ` · ${c.attempts} attempts` : ""}` }));
    }
    n.append(head);
    for (const c of turn.calls) {
      if (c.error) n.append(el("pre", { class: "err", text: `the model call failed: ${c.error}` }));
      else if (c.prose) n.append(el("div", { class: "prose", text: c.prose }));
      if (c.reply_cut) n.append(cutNote(c.reply_cut, "the reply"));
    }
    for (const id of turn.cells) {
      const cell = run.cells[String(id)];
      if (cell) n.append(cellNode(run, cell));
    }
    return n;
  }

  function kvTable(obj) {
    const t = el("table", { class: "kv" });
    for (const [k, v] of Object.entries(obj)) {
      if (v === null || v === undefined) continue;
      t.append(el("tr", null, el("td", { text: k }), el("td", { text: typeof v === "object" ? JSON.stringify(v) : String(v) })));
    }
    return t;
  }

  function contextText(run) {
    const c = run.context || {};
    const loaded = run.loaded || {};
    const where = c.path || c.first || (c.kind ? `a ${c.kind}` : "");
    const desc = loaded.description || "";
    return [where, desc].filter(Boolean).join(" — ");
  }

  function summaryNode(run, target) {
    const t = run.totals || {};
    const turns = run.turns.filter((x) => typeof x.turn === "number").length;
    target.append(el("div", { class: "label", text: "question" }), el("div", { class: "question", text: run.query || "" }));
    const partial = run.status !== "ok";
    target.append(el("div", { class: "label", text: partial ? "answer (partial)" : "answer", style: "margin-top:10px" }));
    if (run.answer === null || run.answer === undefined) target.append(el("div", { class: "answer none", text: "(no answer)" }));
    else target.append(answerText(run, String(run.answer), el("div", { class: "answer" + (partial ? " partial" : "") })));
    const evidence = run.evidence || [];
    if (evidence.length) {
      const refs = el("div", { class: "evrefs" }, `rests on ${plural(evidence.length, "verified citation")}: `);
      evidence.forEach((ev, i) => refs.append(i ? " " : "", evLink(run, ev.id)));
      target.append(refs);
    }
    if (run.error) target.append(el("pre", { class: "err", text: run.error }));
    const stats = el("div", { class: "stats" });
    const stat = (label, value) => stats.append(el("span", null, `${label} `, el("b", { text: value })));
    stats.append(badge(run.status));
    if (run.budget_stop) stat("stopped by", run.budget_stop);
    stat("turns", fmtInt(turns));
    stat("sub-calls", fmtInt(run.subcalls.length));
    stat("sub-runs", fmtInt(Object.keys(run.children).length));
    stat("tokens", fmtInt(t.tokens));
    stat("cost", fmtUsd(t.cost_usd));
    if (t.cache_hits) stat("cache hits", `${fmtInt(t.cache_hits)} (saved ${fmtUsd(t.saved_usd)})`);
    stat("wall", fmtS(t.wall_s));
    stat("model", run.model || "–");
    target.append(stats);
    const ctx = contextText(run);
    if (ctx) target.append(el("div", { class: "meta", text: `context: ${ctx}` }));
    const settings = el("details", { class: "group" }, el("summary", { text: "settings" }), el("div", { class: "body" }, kvTable(run.settings || {})));
    target.append(settings);
    if (t.by_model && Object.keys(t.by_model).length) {
      const table = el("table", { class: "grid" }, el("tr", null, ...["model", "calls", "prompt tokens", "completion tokens", "cost"].map((h, i) => el("th", { class: i ? "num" : null, text: h }))));
      for (const [m, u] of Object.entries(t.by_model)) {
        table.append(el("tr", null, el("td", { text: m }), el("td", { class: "num", text: fmtInt(u.calls) }), el("td", { class: "num", text: fmtInt(u.prompt_tokens) }),
          el("td", { class: "num", text: fmtInt(u.completion_tokens) }), el("td", { class: "num", text: fmtUsd(u.cost_usd) })));
      }
      target.append(el("details", { class: "group" }, el("summary", { text: "usage by model" }), el("div", { class: "body" }, table)));
    }
  }

  function notesNode(run, target) {
    const notes = run.notes || {};
    const loaded = notes.loaded;
    if (!loaded && !notes.ops.length && !notes.error) return false;
    target.append(el("h2", { text: "Notes" }));
    if (loaded) {
      target.append(el("div", { text: `Loaded ${plural(loaded.memories || 0, "memory")} (${fmtInt(loaded.memory_tokens)} tokens) and ${plural(loaded.docs || 0, "document")} from ${loaded.directory}` }));
      const texts = loaded.memory_texts || [];
      if (texts.length) {
        const ul = el("ul", { class: "notes" });
        texts.forEach((text, i) => ul.append(el("li", null, el("b", { text: `#${(loaded.memory_ids || [])[i]} ` }), text)));
        target.append(ul);
      }
    }
    if (notes.ops.length) target.append(el("div", { class: "label", text: "written by this run", style: "margin-top:8px" }), notesOps(notes.ops));
    if (notes.error) target.append(el("pre", { class: "err", text: notes.error }));
    return true;
  }

  function renderRun(run, target) {
    if (run !== ROOT) {
      const box = el("div", { class: "card" });
      summaryNode(run, box);
      target.append(box);
      const evidence = el("div", { class: "card" });
      if (evidenceNode(run, evidence)) target.append(evidence);
      const notes = el("div");
      if (notesNode(run, notes)) target.append(notes);
    }
    for (const turn of run.turns) target.append(turnNode(run, turn));
    // sub-calls no cell made (an eval baseline's compaction calls): listed after the turns
    const loose = [];
    run.subcalls.forEach((sc, i) => { if (sc.cell === null || sc.cell === undefined || !run.cells[String(sc.cell)]) loose.push(i); });
    if (loose.length) {
      const n = el("section", { class: "turn", id: `${run.id}-loose-subcalls` },
        el("div", { class: "head" }, el("span", { class: "n", text: "sub-calls outside any cell" })));
      n.append(subcallList(run, loose));
      target.append(n);
    }
  }

  function svg(tag, attrs, text) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function drawChart(c, target) {
    const series = c.series || [];
    if (!series.length) {
      target.append(el("div", { class: "meta", text: "no model calls were recorded" }));
      return;
    }
    const W = 1000, H = 170, L = 70, R = 70, T = 12, B = 26;
    const last = series[series.length - 1];
    const tmax = Math.max(last[0], c.max_wall_s && c.max_wall_s < last[0] * 3 ? c.max_wall_s : 0, 0.001);
    const kmax = Math.max(last[1], c.max_tokens && c.max_tokens < last[1] * 3 ? c.max_tokens : 0, 1);
    const cmax = Math.max(last[2], c.max_cost_usd && c.max_cost_usd < last[2] * 3 ? c.max_cost_usd : 0);
    const x = (t) => L + (W - L - R) * (t / tmax);
    const yk = (k) => H - B - (H - T - B) * (k / kmax);
    const yc = (v) => H - B - (H - T - B) * (cmax ? v / cmax : 0);
    const s = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    s.append(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#dde1e8" }));
    for (const [t, turn] of c.turns || []) {
      if (typeof turn !== "number") continue;
      s.append(svg("line", { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, stroke: "#9aa5b8" }));
    }
    const path = (f) => "M" + series.map((p) => `${x(p[0]).toFixed(1)},${f(p).toFixed(1)}`).join("L");
    s.append(svg("path", { d: path((p) => yk(p[1])), fill: "none", stroke: "#2f5fd0", "stroke-width": 2 }));
    if (cmax) s.append(svg("path", { d: path((p) => yc(p[2])), fill: "none", stroke: "#1a7f37", "stroke-width": 2, "stroke-dasharray": "0" }));
    if (c.max_tokens && c.max_tokens <= kmax) s.append(svg("line", { x1: L, x2: W - R, y1: yk(c.max_tokens), y2: yk(c.max_tokens), stroke: "#2f5fd0", "stroke-dasharray": "5 4" }));
    if (c.max_cost_usd && cmax && c.max_cost_usd <= cmax) s.append(svg("line", { x1: L, x2: W - R, y1: yc(c.max_cost_usd), y2: yc(c.max_cost_usd), stroke: "#1a7f37", "stroke-dasharray": "5 4" }));
    s.append(svg("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, fmtInt(Math.round(kmax))));
    s.append(svg("text", { x: L - 6, y: H - B, "text-anchor": "end" }, "0"));
    if (cmax) s.append(svg("text", { x: W - R + 6, y: T + 10 }, fmtUsd(cmax)));
    s.append(svg("text", { x: L, y: H - 6 }, "0 s"));
    s.append(svg("text", { x: W - R, y: H - 6, "text-anchor": "end" }, `${tmax.toFixed(1)} s`));
    target.append(s);
    const legend = el("div", { class: "legend" },
      el("i", { style: "background:#2f5fd0" }), `tokens (${fmtInt(last[1])}) · `,
      cmax ? el("i", { style: "background:#1a7f37" }) : null, c.unpriced ? "cost unpriced · " : cmax ? `cost (${fmtUsd(last[2])}) · ` : "cost $0 · ",
      "ticks: the root's turns · dashed: a budget");
    target.append(legend);
  }

  // ----- search over every sub-call of the run tree -----
  let ALL = null;
  function allSubcalls() {
    if (ALL) return ALL;
    ALL = [];
    const walk = (run) => {
      for (const sc of run.subcalls) ALL.push({ run, sc, hay: null });
      for (const child of Object.values(run.children)) if (child.run) walk(child.run);
    };
    walk(ROOT);
    return ALL;
  }
  function hay(item) {
    if (item.hay === null) {
      const p = item.sc.prompt || {};
      item.hay = [p.text, p.head, p.tail, item.sc.reply, item.sc.error].filter(Boolean).join("\n").toLowerCase();
    }
    return item.hay;
  }
  function search(raw) {
    const box = document.getElementById("results");
    box.textContent = "";
    const q = raw.trim().toLowerCase();
    if (!q) {
      box.classList.add("hidden");
      return;
    }
    box.classList.remove("hidden");
    const hits = allSubcalls().filter((it) => hay(it).includes(q));
    box.append(el("h2", { text: `${plural(hits.length, "sub-call")} ${hits.length === 1 ? "matches" : "match"} “${raw.trim()}”` }));
    hits.slice(0, SEARCH_LIMIT).forEach((it) => box.append(subcallNode(it.run, it.sc, q, hits.length <= 3)));
    if (hits.length > SEARCH_LIMIT) box.append(el("div", { class: "meta", text: `the first ${SEARCH_LIMIT} are shown: narrow the search` }));
  }

  // ----- the page -----
  document.getElementById("run-id").textContent = ROOT.id;
  document.getElementById("run-kind").textContent = `${ROOT.method || "rlm"} run`;  // an eval baseline's own name
  document.getElementById("run-status").append(badge(ROOT.status));
  if (DATA.links && DATA.links.back) {
    document.getElementById("back").append(el("a", { href: DATA.links.back, text: "← report" }));
  }
  summaryNode(ROOT, document.getElementById("summary"));
  const evidenceCard = document.getElementById("evidence");
  if (evidenceNode(ROOT, evidenceCard)) evidenceCard.classList.remove("hidden");
  drawChart(DATA.chart || {}, document.getElementById("chart"));
  const notes = document.getElementById("notes");
  if (notesNode(ROOT, notes)) notes.classList.remove("hidden");
  renderRun(ROOT, document.getElementById("timeline"));
  const input = document.getElementById("search");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value), 150);
  });
  const fromHash = () => {
    const m = location.hash.match(/^#q=(.*)$/);
    if (m) {
      input.value = decodeURIComponent(m[1]);
      search(input.value);
    }
  };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.body.setAttribute("data-rendered", "1");
})();
