// The playground page: draws the connection form from manifest.json and the query form from
// operations.json as a ToolJet-style builder does, sends what the user typed to the playground's
// server as text, and shows the QueryResult, the QueryError or the streamed chunks.
// No field is known by name here: everything comes from the two files and from /api/state.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // -- small DOM helpers ----------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name in node && typeof value !== "string") node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function pretty(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function compact(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  // -- talking to the playground's server ------------------------------------------------------------

  async function api(path, body) {
    const init = body === undefined
      ? { method: "GET" }
      : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    const response = await fetch(path, init);
    const value = await response.json();
    if (!response.ok) throw new Error(value.error || `HTTP ${response.status}`);
    return value;
  }

  // A POST answered with server-sent events: onEvent(name, data) for each, as it arrives.
  async function events(path, body, onEvent) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const value = await response.json().catch(() => ({}));
      throw new Error(value.error || `HTTP ${response.status}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        onEvent(name, JSON.parse(data.join("\n")));
      }
      if (done) return;
    }
  }

  // -- the generic form renderer ---------------------------------------------------------------------

  // The choices of a dropdown: its list (or options), or its schema's enum.
  function choicesOf(field) {
    const raw = field.list || field.options || (field.schema && field.schema.enum) || [];
    return raw.map((item) => (item !== null && typeof item === "object"
      ? { value: String(item.value), name: String(item.name ?? item.label ?? item.value) }
      : { value: String(item), name: String(item) }));
  }

  // One form field, drawn from its JSON: a control object {key, field, node, input, get(), set(v)}.
  // ctx: {scope, secret, required, placeholder, initial, onChange, dependsOn(key), invoke}
  function renderField(key, field, ctx) {
    const id = `${ctx.scope}-${key}`;
    const required = ctx.required || field.required === true;
    const label = el("label", { for: id, text: field.label || key },
      required ? el("span", { className: "required", text: " *", title: "required" }) : null);
    const wrapper = el("div", { className: "field", dataset: { key, widget: field.type || "" } }, label);
    const note = el("div", { className: "field-note" });
    let input;
    let get;
    let set;
    const placeholder = field.placeholder ?? ctx.placeholder ?? "";
    const type = field.type;
    if (type === "password" || ctx.secret) {
      input = el("input", { id, type: "password", autocomplete: "new-password", placeholder, spellcheck: "false" });
      get = () => input.value;
      set = (v) => { input.value = v; };
    } else if (type === "codehinter") {
      input = el("textarea", { id, placeholder, spellcheck: "false", className: "code" });
      if (field.height) input.style.height = field.height;
      get = () => input.value;
      set = (v) => { input.value = v; };
    } else if (type === "dropdown" || type === "dropdown-component-flip") {
      input = el("select", { id });
      if (!required) input.append(el("option", { value: "", text: "" }));
      for (const choice of choicesOf(field)) input.append(el("option", { value: choice.value, text: choice.name }));
      get = () => input.value;
      set = (v) => { input.value = v; };
    } else if (type === "toggle") {
      input = el("input", { id, type: "checkbox", role: "switch" });
      get = () => (input.checked ? "true" : "false");
      set = (v) => { input.checked = v === true || String(v).toLowerCase() === "true"; };
    } else if (type === "dynamic-selector" && ctx.invoke) {
      const listId = `${id}-choices`;
      input = el("input", { id, type: "text", list: listId, placeholder, spellcheck: "false" });
      const datalist = el("datalist", { id: listId });
      const fetchLabel = (field.operation && field.operation.label) || "Fetch";
      const fetchButton = el("button", { type: "button", className: "secondary small fetch", text: fetchLabel });
      const fetchChoices = async () => {
        const method = field.operation && field.operation.invokeMethod;
        const args = {};
        for (const dependency of field.dependsOn || []) args[dependency] = ctx.dependsOn(dependency);
        note.textContent = "";
        wrapper.dataset.fetch = "pending"; // what a test (or a host's spinner) waits on
        try {
          const result = await ctx.invoke(method, args);
          if (result.status !== "ok") throw new Error(`${result.message}: ${result.description}`);
          datalist.replaceChildren(...choicesOf({ list: result.data }).map(
            (choice) => el("option", { value: choice.value, text: choice.name })));
          wrapper.dataset.choices = String(datalist.children.length);
          wrapper.dataset.fetch = "done";
        } catch (error) {
          note.textContent = String(error.message || error);
          wrapper.dataset.fetch = "failed";
        }
      };
      fetchButton.addEventListener("click", fetchChoices);
      wrapper.append(el("div", { className: "with-button" }, input, fetchButton), datalist);
      get = () => input.value;
      set = (v) => { input.value = v; };
      wrapper.fetchChoices = field.autoFetch ? fetchChoices : null;
    } else {
      // text, a dynamic-selector without invoke_method (free text, as fxEnabled allows), or a widget
      // this renderer does not know: a text box, and for the last a visible note
      input = el("input", { id, type: "text", placeholder, spellcheck: "false" });
      get = () => input.value;
      set = (v) => { input.value = v; };
      if (type && type !== "text" && type !== "dynamic-selector") {
        wrapper.classList.add("unknown-widget");
        note.textContent = `widget type ${type} is not drawn by this renderer: shown as a text box`;
      }
    }
    input.dataset.key = key;
    if (!wrapper.contains(input)) wrapper.append(input);
    if (field.description) wrapper.append(el("div", { className: "help", text: field.description }));
    if (field.helpText) wrapper.append(el("div", { className: "help subtle", text: field.helpText }));
    wrapper.append(note);
    if (ctx.initial !== undefined && ctx.initial !== null) set(ctx.initial);
    input.addEventListener("input", () => ctx.onChange && ctx.onChange(key));
    input.addEventListener("change", () => ctx.onChange && ctx.onChange(key));
    return { key, field, node: wrapper, input, note, get, set };
  }

  function primitive(value) {
    return ["string", "number", "boolean"].includes(typeof value) ? value : undefined;
  }

  // -- page state --------------------------------------------------------------------------------------

  const page = {
    manifest: null,
    operations: null,
    state: null,
    connection: new Map(), // key -> control
    dirty: new Set(), // connection keys the user changed since the last save
    queries: new Map(), // operation -> {node, controls: Map(key -> control), fetched}
    operationControl: null,
    history: [], // the chat, in ToolJet's Chat component form {message, type}
  };

  function setStatus(node, text, kind) {
    node.textContent = text;
    node.dataset.kind = kind || "";
  }

  // -- the connection form ---------------------------------------------------------------------------

  function secretKeys(manifest) {
    const options = (manifest.source && manifest.source.options) || {};
    const keys = new Set();
    for (const [key, field] of Object.entries(manifest.properties || {})) {
      if (field.type === "password" || (options[key] && options[key].encrypted === true)) keys.add(key);
    }
    return keys;
  }

  function renderConnection() {
    const { manifest } = page;
    const form = $("connection-form");
    const secrets = secretKeys(manifest);
    const required = new Set(manifest.required || []);
    const defaults = manifest.defaults || {};
    $("connection-description").textContent = manifest.description || "";
    for (const [key, field] of Object.entries(manifest.properties || {})) {
      const fallback = defaults[key] && primitive(defaults[key].value);
      const control = renderField(key, field, {
        scope: "connection",
        secret: secrets.has(key),
        required: required.has(key),
        // an empty field means the plugin's default: show it as the placeholder
        placeholder: fallback === undefined ? undefined : String(fallback),
        onChange: (changed) => page.dirty.add(changed),
      });
      // a toggle has no placeholder: it starts in its default position
      if (field.type === "toggle" && fallback !== undefined) control.set(fallback);
      control.secret = secrets.has(key);
      control.badge = el("span", { className: "badge", dataset: { state: "unset" } });
      control.clear = el("button", { type: "button", className: "secondary small", text: "Clear" });
      control.clear.addEventListener("click", () => {
        control.set("");
        page.dirty.add(key);
        control.badge.textContent = "cleared on save";
        control.badge.dataset.state = "clearing";
      });
      control.node.querySelector("label").append(" ", control.badge, " ", control.clear);
      page.connection.set(key, control);
      form.append(control.node);
    }
    showConnectionView(page.state.connection, true);
  }

  // What the server says about each field: set or not, and the text of those holding no secret.
  function showConnectionView(view, fill) {
    for (const [key, control] of page.connection) {
      const info = view[key] || { set: false };
      if (fill && info.value !== undefined) control.set(info.value);
      if (control.secret) control.set("");
      const hiddenSet = info.set && info.value === undefined;
      control.badge.textContent = hiddenSet ? (control.secret ? "set" : "set (holds a key: not shown)") : "";
      control.badge.dataset.state = info.set ? "set" : "unset";
      control.clear.hidden = !hiddenSet;
    }
  }

  async function saveConnection() {
    const changes = {};
    for (const key of page.dirty) changes[key] = page.connection.get(key).get();
    const status = $("connection-status");
    try {
      page.state = await api("api/connection", { changes });
      page.dirty.clear();
      showConnectionView(page.state.connection, false);
      showBanner();
      setStatus(status, "Saved.", "ok");
    } catch (error) {
      setStatus(status, `Not saved: ${error.message}`, "failed");
    }
  }

  async function testConnection() {
    const status = $("connection-status");
    setStatus(status, "Testing…", "busy");
    try {
      const result = await api("api/test-connection", {});
      setStatus(status, result.status === "ok" ? "Connection ok." : `Connection failed: ${result.message}`,
        result.status);
    } catch (error) {
      setStatus(status, `Connection failed: ${error.message}`, "failed");
    }
  }

  function showBanner() {
    const banner = $("banner");
    const simulator = page.state.simulator;
    banner.hidden = !simulator.active;
    banner.textContent = simulator.active
      ? `No API key or gateway URL is set: queries are answered by the offline Portkey simulator at ${simulator.url}. `
        + "Save an API key or a gateway URL to use Portkey."
      : "";
  }

  // -- the query form ----------------------------------------------------------------------------------

  function operationFields(operation) {
    const properties = page.operations.properties || {};
    const common = (properties.operation && properties.operation.commonFields) || {};
    return { ...common, ...(properties[operation] || {}) };
  }

  function initialValue(operation, key, field) {
    const defaults = page.operations.defaults || {};
    const perOperation = defaults[operation] && typeof defaults[operation] === "object" ? defaults[operation] : {};
    const candidates = [perOperation[key], defaults[key], field.default, field.schema && field.schema.default];
    for (const candidate of candidates) {
      if (primitive(candidate) !== undefined) return candidate;
    }
    return undefined;
  }

  function renderQueries() {
    const form = $("query-form");
    const selector = page.operations.properties.operation;
    const defaults = page.operations.defaults || {};
    page.operationControl = renderField("operation", selector, {
      scope: "query",
      required: true,
      initial: primitive(defaults.operation),
    });
    form.append(page.operationControl.node);
    for (const choice of choicesOf(selector)) {
      const operation = choice.value;
      const fieldset = el("fieldset", { className: "operation", dataset: { operation } },
        el("legend", { text: choice.name }));
      const controls = new Map();
      for (const [key, field] of Object.entries(operationFields(operation))) {
        const control = renderField(key, field, {
          scope: `query-${operation}`,
          initial: initialValue(operation, key, field),
          onChange: () => clearInvalid(control),
          dependsOn: (dependency) => (dependency === "operation" ? operation
            : controls.has(dependency) ? controls.get(dependency).get() : ""),
          invoke: page.state.invokeMethod ? (method, args) => api("api/invoke", { method, args }) : null,
        });
        controls.set(key, control);
        fieldset.append(control.node);
      }
      page.queries.set(operation, { node: fieldset, controls, fetched: false });
      form.append(fieldset);
    }
    page.operationControl.input.addEventListener("change", showOperation);
    showOperation();
  }

  function currentOperation() {
    return page.operationControl.get();
  }

  function showOperation() {
    const operation = currentOperation();
    for (const [name, query] of page.queries) query.node.hidden = name !== operation;
    const query = page.queries.get(operation);
    if (query && !query.fetched) {
      query.fetched = true;
      for (const control of query.controls.values()) {
        if (control.node.fetchChoices) control.node.fetchChoices();
      }
    }
    $("run-stream").disabled = !page.state.streamable.includes(operation);
  }

  // The query options a host sends: the operation and every filled field, as text.
  function queryValues(operation) {
    const values = {};
    for (const [key, control] of page.queries.get(operation).controls) {
      const value = control.get();
      if (value !== "") values[key] = value;
    }
    return values;
  }

  function clearInvalid(control) {
    control.node.classList.remove("invalid");
  }

  function markInvalid(operation, result) {
    const query = page.queries.get(operation);
    for (const control of query.controls.values()) clearInvalid(control);
    const field = result && result.data && result.data.field;
    if (typeof field === "string" && query.controls.has(field)) {
      query.controls.get(field).node.classList.add("invalid");
    }
  }

  // -- results, as a host shows them -------------------------------------------------------------------

  const METADATA_ROWS = [
    ["traceId", "Trace ID"],
    ["cacheStatus", "Cache status"],
    ["retries", "Retries (client)"],
    ["retryAttemptCount", "Retries (gateway)"],
    ["usage", "Usage"],
    ["cost", "Cost (USD)"],
  ];

  // What an answer cost, as a builder reads it: "$0.0000084", or why it could not be priced (docs/cost.md)
  function costText(cost, metadata) {
    if (cost && typeof cost.total === "number") {
      return `$${cost.total.toFixed(12).replace(/0+$/, "").replace(/\.$/, "")}` + (cost.cacheHit ? " (cache hit)" : "");
    }
    const warnings = (metadata && metadata.warnings) || [];
    return cost === null ? `unknown: ${warnings.join("; ") || "not priced"}` : "—";
  }

  function metadataTable(metadata, data) {
    const rows = [];
    const shown = new Set();
    const usage = metadata.usage ?? (data && typeof data === "object" && !Array.isArray(data) ? data.usage : undefined);
    for (const [key, label] of METADATA_ROWS) {
      const value = key === "usage" ? usage : metadata[key];
      shown.add(key);
      if (key === "cost") {
        if ("cost" in metadata) rows.push([key, label, costText(value, metadata)]);
        continue;
      }
      rows.push([key, label, value === undefined || value === null ? "—" : compact(value)]);
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (!shown.has(key)) rows.push([key, key, compact(value)]);
    }
    return el("table", { id: "metadata", className: "metadata" },
      el("tbody", {}, ...rows.map(([key, label, value]) => el("tr", { dataset: { key } },
        el("th", { scope: "row", text: label }), el("td", { text: value })))));
  }

  function renderResult(result) {
    const nodes = [el("div", { id: "result-status", className: `result-status ${result.status}`,
      text: `status: ${result.status}` })];
    if (result.status === "ok") {
      const text = typeof result.data === "string";
      nodes.push(el("h3", { text: "data" }),
        el("pre", { id: "data", className: text ? "data text" : "data json", text: pretty(result.data) }),
        el("h3", { text: "metadata" }), metadataTable(result.metadata || {}, result.data));
    } else {
      nodes.push(el("div", { className: "query-error" },
        el("div", { className: "error-message", text: result.message || "Query failed" }),
        el("div", { className: "error-description", text: result.description || result.errorMessage || "" }),
        el("pre", { className: "error-data", text: pretty(result.data || {}) })));
    }
    return nodes;
  }

  function busy(flag) {
    for (const id of ["run", "run-stream", "chat-send"]) $(id).disabled = flag;
    if (!flag) showOperation();
  }

  async function runQuery() {
    const operation = currentOperation();
    const result = $("result");
    result.dataset.state = "running";
    result.replaceChildren(el("div", { className: "status", text: "Running…" }));
    busy(true);
    try {
      const answer = await api("api/run", { options: { operation, ...queryValues(operation) } });
      markInvalid(operation, answer);
      result.replaceChildren(...renderResult(answer));
      result.dataset.state = answer.status;
    } catch (error) {
      result.replaceChildren(el("div", { className: "failure", text: error.message }));
      result.dataset.state = "failed";
    } finally {
      busy(false);
    }
  }

  async function streamQuery() {
    const operation = currentOperation();
    const result = $("result");
    const text = el("pre", { id: "stream-text", className: "data text" });
    const counter = el("div", { className: "status", text: "Streaming…" });
    result.replaceChildren(el("h3", { text: "streamed text" }), text, counter);
    result.dataset.state = "streaming";
    busy(true);
    let chunks = 0;
    try {
      await events("api/stream", { options: { operation, ...queryValues(operation) } }, (name, data) => {
        if (name === "chunk") {
          chunks += 1;
          text.textContent += data.text;
          counter.textContent = `Streaming… ${chunks} chunks`;
        } else if (name === "done" || name === "error") {
          markInvalid(operation, data);
          counter.remove();
          result.append(...renderResult(data));
          result.dataset.state = data.status;
        }
      });
    } catch (error) {
      result.append(el("div", { className: "failure", text: error.message }));
      result.dataset.state = "failed";
    } finally {
      busy(false);
    }
  }

  // -- the chat view -------------------------------------------------------------------------------------

  function renderChatNote() {
    const chat = page.state.chat;
    const tab = $("tab-button-chat");
    if (!chat) {
      tab.hidden = true;
      return;
    }
    const fields = operationFields(chat.operation);
    const labels = chat.fills.map((key) => (fields[key] && fields[key].label) || key);
    const name = (choicesOf(page.operations.properties.operation).find((c) => c.value === chat.operation)
      || { name: chat.operation }).name;
    $("chat-note").textContent = `The conversation fills ${labels.join(" and ")}; the other ${name} fields `
      + `come from the Query tab. Answers stream in as they are generated.`
      + (chat.feedback ? " Rate an answer to send feedback with its trace id." : "");
  }

  function chatEntry(type, message) {
    const text = el("div", { className: "text", text: message });
    const item = el("li", { className: `entry ${type}`, dataset: { type } }, text);
    $("conversation").append(item);
    return { item, text };
  }

  function thumbs(item, traceId) {
    const status = el("span", { className: "rating" });
    const rate = async (rating, button) => {
      for (const b of buttons) b.disabled = true;
      try {
        const result = await api("api/feedback", { traceId, rating });
        status.textContent = result.status === "ok" ? `feedback sent (${rating})` : `${result.message}: ${result.description}`;
        status.dataset.state = result.status;
        button.classList.add("chosen");
      } catch (error) {
        status.textContent = error.message;
        status.dataset.state = "failed";
        for (const b of buttons) b.disabled = false;
      }
    };
    const up = el("button", { type: "button", className: "secondary small thumb", text: "▲ Good", title: "Thumbs up" });
    const down = el("button", { type: "button", className: "secondary small thumb", text: "▼ Bad", title: "Thumbs down" });
    const buttons = [up, down];
    up.addEventListener("click", () => rate("up", up));
    down.addEventListener("click", () => rate("down", down));
    item.append(el("div", { className: "thumbs", dataset: { traceId } }, up, down, status));
  }

  async function sendChat(event) {
    event.preventDefault();
    const chat = page.state.chat;
    const input = $("chat-input");
    const prompt = input.value;
    if (!prompt.trim()) return;
    input.value = "";
    const history = page.history.slice();
    chatEntry("message", prompt);
    page.history.push({ message: prompt, type: "message" });
    const answer = chatEntry("response", "");
    answer.item.dataset.state = "streaming";
    let traceId = null;
    let failed = null;
    let done = null;
    busy(true);
    try {
      await events("api/chat", { history, prompt, fields: queryValues(chat.operation) }, (name, data) => {
        if (name === "start") traceId = data.traceId;
        else if (name === "chunk") answer.text.textContent += data.text;
        else if (name === "error") failed = data;
        else if (name === "done") done = data;
      });
    } catch (error) {
      failed = { message: "Query failed", description: error.message };
    } finally {
      busy(false);
    }
    if (failed) {
      answer.item.className = "entry error";
      answer.item.dataset.type = "error";
      answer.item.append(el("div", { className: "error-description",
        text: `${failed.message}: ${failed.description}` }));
      page.history.push({ message: failed.description, type: "error" });
      answer.item.dataset.state = "failed";
      return;
    }
    page.history.push({ message: answer.text.textContent, type: "response" });
    const metadata = (done && done.metadata) || {};
    if ("cost" in metadata) {
      answer.item.append(el("div", { className: "cost", text: `cost: ${costText(metadata.cost, metadata)}` }));
    }
    if (chat.feedback && traceId) thumbs(answer.item, traceId);
    answer.item.dataset.state = "done";
  }

  // -- tabs and start-up ------------------------------------------------------------------------------

  function showTab(name) {
    for (const button of document.querySelectorAll(".tabs button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    $("tab-query").hidden = name !== "query";
    $("tab-chat").hidden = name !== "chat";
  }

  async function start() {
    try {
      const [spec, state] = await Promise.all([api("api/spec"), api("api/state")]);
      page.manifest = spec.manifest;
      page.operations = spec.operations;
      page.state = state;
    } catch (error) {
      const failure = $("load-error");
      failure.hidden = false;
      failure.textContent = `The playground could not load its forms: ${error.message}`;
      return;
    }
    const source = page.manifest.source || {};
    $("title").textContent = `${source.name || page.manifest.title} playground`;
    showBanner();
    renderConnection();
    renderQueries();
    renderChatNote();
    $("save-connection").addEventListener("click", saveConnection);
    $("test-connection").addEventListener("click", testConnection);
    $("run").addEventListener("click", runQuery);
    $("run-stream").addEventListener("click", streamQuery);
    $("chat-form").addEventListener("submit", sendChat);
    for (const button of document.querySelectorAll(".tabs button")) {
      button.addEventListener("click", () => showTab(button.dataset.tab));
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
