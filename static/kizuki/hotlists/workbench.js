/* The HOT list workbench: list, filters, assignment, lead panel, activity log.
   Plain JS; talks to /workbench/api/… with fetch and the session cookie. */
(function () {
  "use strict";
  const configNode = document.getElementById("wb-config");
  if (!configNode) return;
  const config = JSON.parse(configNode.textContent);
  const t = JSON.parse(document.getElementById("wb-strings").textContent);
  if (!config.run) return;

  const state = { filter: "all", rank: "", members: [], selected: null, checked: new Set() };
  const $ = (id) => document.getElementById(id);
  const url = (name, values) =>
    config.urls[name].replace(/\{(\w+)\}/g, (_m, key) => encodeURIComponent(values[key]));

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function call(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(),
                 "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (_e) { data = {}; }
    return { ok: response.ok, status: response.status, data };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  // -- the list ------------------------------------------------------------------------

  async function loadList() {
    const params = new URLSearchParams({ filter: state.filter });
    if (state.rank) params.set("rank", state.rank);
    const { ok, data } = await call("GET", url("members", { run: config.run }) + "?" + params);
    if (!ok) { alert((data.error && data.error.message) || t.error); return; }
    state.members = data.members;
    for (const [key, value] of Object.entries(data.counts)) {
      const node = document.querySelector(`[data-count="${key}"]`);
      if (node) node.textContent = value;
    }
    document.querySelectorAll("[data-filter]").forEach((b) =>
      b.classList.toggle("wb-on", b.dataset.filter === state.filter));
    document.querySelectorAll("[data-rank]").forEach((b) =>
      b.classList.toggle("wb-on", b.dataset.rank === state.rank));
    renderRows();
  }

  function ownerCell(member) {
    if (member.owner) return el("td", { class: "wb-owner", text: member.owner.name });
    if (!config.canAssign) return el("td", { class: "wb-owner", text: t.unassigned });
    const mine = el("button", { type: "button", class: "wb-assign-me", text: t.assignMe });
    mine.addEventListener("click", (e) => { e.stopPropagation(); assign(member, "me"); });
    const other = el("select", { class: "wb-assign-other", "aria-label": t.assignTo });
    other.append(el("option", { value: "", text: t.assignTo + "…" }));
    for (const option of document.querySelectorAll("#wb-bulk-owner option")) {
      if (option.value && option.value !== "me") other.append(option.cloneNode(true));
    }
    other.addEventListener("click", (e) => e.stopPropagation());
    other.addEventListener("change", () => { if (other.value) assign(member, other.value); });
    return el("td", { class: "wb-owner" }, mine, " ", other);
  }

  function followCell(member) {
    const cell = el("td", { class: "wb-follow" });
    if (member.removed) cell.append(el("span", { class: "wb-tag", text: t.removed }));
    else if (member.followed) {
      cell.append(el("span", { class: "wb-tag wb-done",
                               text: t[member.last_result] || t.followed }));
    } else cell.append(el("span", { class: "wb-tag wb-todo", text: t.notFollowed }));
    if (member.handoff === "pending") {
      cell.append(" ", el("span", { class: "wb-tag wb-handoff", text: t.handoff }));
    }
    return cell;
  }

  function renderRows() {
    const body = $("wb-rows");
    body.replaceChildren();
    state.members.forEach((member) => {
      const box = el("input", { type: "checkbox", class: "wb-check",
                                checked: state.checked.has(member.id) });
      box.addEventListener("click", (e) => e.stopPropagation());
      box.addEventListener("change", () => {
        if (box.checked) state.checked.add(member.id); else state.checked.delete(member.id);
      });
      const who = el("td", { class: "wb-who" },
        el("strong", { text: member.name }),
        member.company ? el("span", { class: "wb-company", text: member.company }) : null,
        member.carried_over ? el("span", { class: "wb-tag", text: t.carried }) : null);
      const row = el("tr", { "data-id": String(member.id), tabIndex: -1 },
        el("td", {}, config.canAssign ? box : null),
        el("td", { text: String(member.position) }),
        el("td", {}, el("span", { class: `wb-rank wb-rank-${member.rank}`, text: member.rank })),
        el("td", { class: "wb-num", text: String(member.score) }),
        who, ownerCell(member), followCell(member));
      row.addEventListener("click", () => select(member.id));
      if (member.id === state.selected) row.classList.add("wb-selected");
      body.append(row);
    });
    $("wb-none").hidden = state.members.length > 0;
  }

  function select(memberId, { focus = true } = {}) {
    state.selected = memberId;
    document.querySelectorAll("#wb-rows tr").forEach((row) => {
      const on = Number(row.dataset.id) === memberId;
      row.classList.toggle("wb-selected", on);
      if (on && focus) row.scrollIntoView({ block: "nearest" });
    });
    loadPanel(memberId);
  }

  function move(step) {
    if (!state.members.length) return;
    let index = state.members.findIndex((m) => m.id === state.selected);
    index = index < 0 ? 0 : Math.min(state.members.length - 1, Math.max(0, index + step));
    select(state.members[index].id);
  }

  async function assign(member, owner) {
    const { ok, status, data } = await call("POST", url("assign", { member: member.id }), {
      owner, expected_owner: member.owner ? member.owner.id : null,
    });
    if (!ok) alert((data.error && data.error.message) || t.error);
    if (ok || status === 409) await refresh();
  }

  async function refresh() {
    await loadList();
    if (state.selected) loadPanel(state.selected);
  }

  // -- the panel -----------------------------------------------------------------------

  function pair(list, label, value) {
    if (!value) return;
    list.append(el("dt", { text: label }), el("dd", { text: value }));
  }

  async function loadPanel(memberId) {
    const { ok, data } = await call("GET", url("panel", { member: memberId }));
    if (!ok || state.selected !== memberId) return;
    $("wb-panel-empty").hidden = true;
    $("wb-panel-body").hidden = false;
    const c = data.contact;
    $("wb-p-name").textContent = c.name || c.email;
    const contact = $("wb-p-contact");
    contact.replaceChildren();
    pair(contact, t.company, [c.company, c.department].filter(Boolean).join(" "));
    pair(contact, t.title, c.title);
    pair(contact, t.email, c.email);
    pair(contact, t.phone, c.phone);
    pair(contact, t.stage, c.stage);
    pair(contact, t.tags, c.tags.join("、"));
    const m = data.member;
    $("wb-p-score").textContent =
      `${t.score} ${m.score} ${m.rank} (${t.atListTime}) · ${data.explanation.score} ` +
      `${data.explanation.rank} (${t.now})`;
    const reasons = $("wb-p-reasons");
    reasons.replaceChildren();
    const parts = [
      ...data.explanation.behaviour.rules.map((r) => [r.name, r.points]),
      ...data.explanation.fit.rules.map((r) => [r.name, r.points]),
      ...data.explanation.tags.adjustments.map((r) => [r.tag, r.points]),
    ].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    if (!parts.length) reasons.append(el("li", { text: t.noReasons }));
    for (const [name, points] of parts) {
      reasons.append(el("li", { text: `${name} ${points > 0 ? "+" : ""}${points}` }));
    }
    const acts = $("wb-p-activities");
    acts.replaceChildren(...data.activities.map((a) => el("li", {},
      el("time", { text: a.at }), ` ${a.type} · ${a.result}`, a.source ? ` · ${a.source}` : "",
      a.actor ? ` · ${a.actor}` : "", a.content ? el("div", { text: a.content }) : null)));
    const line = $("wb-p-timeline");
    line.replaceChildren(...data.timeline.map((e) => el("li", { class: `wb-tl-${e.icon}` },
      el("time", { text: e.at }), ` ${e.title}`, e.detail ? el("div", { text: e.detail }) : null)));
  }

  function showErrors(box, data) {
    const error = data.error || {};
    const lines = [];
    for (const messages of Object.values(error.fields || {})) lines.push(...[].concat(messages));
    box.textContent = lines.length ? lines.join(" ") : error.message || t.error;
    box.hidden = false;
  }

  $("wb-activity").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const box = $("wb-activity-error");
    box.hidden = true;
    if (!state.selected) return;
    const value = (name) => {
      const checked = form.querySelector(`[name=${name}]:checked`);
      if (checked) return checked.value;
      const field = form.querySelector(`[name=${name}]:not([type=radio])`);
      return field ? field.value : "";
    };
    const body = {
      occurred_at: value("occurred_at"), type: value("type"), content: value("content"),
      result: value("result"), source: value("source"),
    };
    const { ok, data } = await call("POST", url("activity", { member: state.selected }), body);
    if (!ok) { showErrors(box, data); return; }
    form.querySelector("[name=content]").value = "";
    form.querySelectorAll("[name=result]").forEach((r) => { r.checked = false; });
    box.textContent = t.saved;
    box.hidden = false;
    box.classList.add("wb-ok");
    setTimeout(() => { box.hidden = true; box.classList.remove("wb-ok"); }, 2000);
    await refresh();
  });

  const removeForm = $("wb-remove");
  if (removeForm) {
    removeForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const box = $("wb-remove-error");
      box.hidden = true;
      const reason = removeForm.querySelector("[name=reason]").value;
      const { ok, data } = await call("POST", url("remove", { member: state.selected }), { reason });
      if (!ok) { showErrors(box, data); return; }
      removeForm.reset();
      await refresh();
    });
  }

  // -- filters, bulk, keys ---------------------------------------------------------------

  document.querySelectorAll("[data-filter]").forEach((button) =>
    button.addEventListener("click", () => { state.filter = button.dataset.filter; loadList(); }));
  document.querySelectorAll("[data-rank]").forEach((button) =>
    button.addEventListener("click", () => {
      state.rank = state.rank === button.dataset.rank ? "" : button.dataset.rank;
      loadList();
    }));
  const all = $("wb-select-all");
  if (all) {
    all.addEventListener("change", () => {
      state.checked = new Set(all.checked ? state.members.map((m) => m.id) : []);
      renderRows();
    });
    $("wb-bulk-assign").addEventListener("click", async () => {
      if (!state.checked.size) return;
      const { ok, data } = await call("POST", url("bulk", { run: config.run }), {
        members: [...state.checked], owner: $("wb-bulk-owner").value || null,
      });
      if (!ok) { alert((data.error && data.error.message) || t.error); return; }
      state.checked.clear();
      all.checked = false;
      await refresh();
    });
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target.closest && target.closest("input, textarea, select");
    if (event.key === "Escape") {
      if (typing) target.blur();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if (event.key === "a" && config.canAssign) {
      const member = state.members.find((m) => m.id === state.selected);
      if (member && !(member.owner && member.owner.id === config.me)) assign(member, "me");
      event.preventDefault();
    } else if (event.key === "l" && state.selected) {
      const first = document.querySelector("#wb-activity [name=type]:checked")
        || document.querySelector("#wb-activity [name=type]");
      if (first) first.focus();
      event.preventDefault();
    }
  });

  loadList().then(() => {
    if (config.member && state.members.some((m) => m.id === config.member)) select(config.member);
  });
})();
