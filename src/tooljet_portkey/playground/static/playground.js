// The playground page: draws the connection form from manifest.json and the query form from
// operations.json as a ToolJet-style builder does, laid out by playground_forms.json (core fields first,
// the rest under Advanced, example values so the first Run answers), sends what the user typed to the
// playground's server as text, and shows the QueryResult as what it is: an answer, pictures, vectors, a
// table of models, messages; its raw JSON one click away.
// No field is known by name here: everything comes from the files and from /api/state.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const CHAT_STORE = "tooljet-portkey-playground:chat";
  const SERVER_GONE = "The playground server is not answering: it may have been stopped. "
    + "Start it again (tooljet-portkey playground) and reload this page.";

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

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      const area = el("textarea", { className: "offscreen" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    page.copied = text; // what was copied last: a test reads it when the clipboard is not granted
  }

  // -- talking to the playground's server ------------------------------------------------------------

  async function send(path, init) {
    try {
      return await fetch(path, init);
    } catch (error) {
      throw new Error(SERVER_GONE);
    }
  }

  async function api(path, body) {
    const init = body === undefined
      ? { method: "GET" }
      : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    const response = await send(path, init);
    const value = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(value.error || `The playground answered HTTP ${response.status}`);
      error.result = value;
      throw error;
    }
    return value;
  }

  // A POST answered with server-sent events: onEvent(name, data) for each, as it arrives.
  async function events(path, body, onEvent) {
    const response = await send(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const value = await response.json().catch(() => ({}));
      throw new Error(value.error || `The playground answered HTTP ${response.status}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      let part;
      try {
        part = await reader.read();
      } catch (error) {
        throw new Error(SERVER_GONE);
      }
      const { value, done } = part;
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

  // An operations.json placeholder is an example, not a value: it reads "e.g. ..." so nobody takes it
  // for what the field holds.
  function asExample(text) {
    if (!text) return "";
    return /^e\.g\./i.test(text) ? text : `e.g. ${text}`;
  }

  // One form field, drawn from its JSON: a control object {key, field, node, input, get(), set(v)}.
  // ctx: {scope, secret, required, placeholder, help, initial, onChange, dependsOn(key), invoke}
  function renderField(key, field, ctx) {
    const id = `${ctx.scope}-${key}`;
    const required = ctx.required || field.required === true;
    const label = el("label", { for: id, text: field.label || key },
      required ? el("span", { className: "required", text: " *", title: "required", "aria-hidden": "true" }) : null);
    const wrapper = el("div", { className: "field", dataset: { key, widget: field.type || "" } }, label);
    const note = el("div", { className: "field-note", id: `${id}-note` });
    wrapper.append(note); // under the label: where a field-named error is said
    let input;
    let get;
    let set;
    const placeholder = ctx.placeholder ?? asExample(field.placeholder ?? "");
    const type = field.type;
    let fetchChoices = null;
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
      if (!required) input.append(el("option", { value: "", text: "Default" }));
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
      fetchChoices = async () => {
        const method = field.operation && field.operation.invokeMethod;
        const args = {};
        for (const dependency of field.dependsOn || []) args[dependency] = ctx.dependsOn(dependency);
        note.textContent = "";
        wrapper.dataset.fetch = "pending"; // what a test (or a host's spinner) waits on
        try {
          const result = await ctx.invoke(method, args);
          if (result.status !== "ok") throw new Error(`${result.message}: ${result.description}`);
          const choices = choicesOf({ list: result.data });
          datalist.replaceChildren(...choices.map(
            (choice) => el("option", { value: choice.value, text: choice.name })));
          wrapper.dataset.choices = String(datalist.children.length);
          // an empty model takes the first one listed: the untouched form's first Run answers
          if (!input.value && choices.length) input.value = choices[0].value;
          wrapper.dataset.fetch = "done";
        } catch (error) {
          note.textContent = String(error.message || error);
          wrapper.dataset.fetch = "failed";
        }
      };
      fetchButton.addEventListener("click", () => { wrapper.pending = fetchChoices(); });
      wrapper.append(el("div", { className: "with-button" }, input, fetchButton), datalist);
      get = () => input.value;
      set = (v) => { input.value = v; };
      wrapper.choices = () => Array.from(datalist.children, (option) => option.value);
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
    if (required) { // named by its label alone: the star is for the eye, aria-required says it
      input.setAttribute("aria-required", "true");
      input.setAttribute("aria-label", field.label || key);
    }
    if (!wrapper.contains(input)) wrapper.append(input);
    const described = [note.id];
    const helps = [field.description, field.helpText, ctx.help].filter(Boolean);
    helps.forEach((text, index) => {
      const helpId = `${id}-help${index}`;
      described.push(helpId);
      wrapper.append(el("div", { id: helpId, className: index ? "help subtle" : "help", text }));
    });
    input.setAttribute("aria-describedby", described.join(" "));
    if (ctx.initial !== undefined && ctx.initial !== null) set(ctx.initial);
    const control = { key, field, node: wrapper, input, note, get, set, fetchChoices, edited: false };
    const changed = () => {
      control.edited = true;
      clearInvalid(control);
      if (ctx.onChange) ctx.onChange(key);
    };
    input.addEventListener("input", changed);
    input.addEventListener("change", changed);
    return control;
  }

  function primitive(value) {
    return ["string", "number", "boolean"].includes(typeof value) ? value : undefined;
  }

  // -- page state --------------------------------------------------------------------------------------

  const page = {
    manifest: null,
    operations: null,
    layout: {},
    help: {},
    state: null,
    connection: new Map(), // key -> control
    dirty: new Set(), // connection keys the user changed since the last save
    queries: new Map(), // operation -> {node, controls: Map(key -> control), fetched, advanced}
    operationControl: null,
    history: [], // the chat, in ToolJet's Chat component form {message, type}, successful turns only
    entries: [], // what the conversation shows (and sessionStorage keeps): {type, message, traceId, rating}
    last: {}, // what the last answers named, by the field that takes it: {traceId, batchId}
    copied: null,
  };

  function setStatus(node, text, kind) {
    node.textContent = text;
    node.dataset.kind = kind || "";
  }

  // -- field-named errors --------------------------------------------------------------------------------

  function clearInvalid(control) {
    control.node.classList.remove("invalid");
    control.input.removeAttribute("aria-invalid");
    if (control.node.dataset.error) {
      control.note.textContent = "";
      delete control.node.dataset.error;
    }
  }

  // The control a QueryError names: the operation's own field first, then the connection's.
  function namedControl(operation, result) {
    const field = result && result.data && result.data.field;
    if (typeof field !== "string") return null;
    if (field === page.operationControl.key) return page.operationControl;
    const query = page.queries.get(operation);
    if (query && query.controls.has(field)) return query.controls.get(field);
    return page.connection.get(field) || null;
  }

  function clearAllInvalid() {
    for (const query of page.queries.values()) for (const control of query.controls.values()) clearInvalid(control);
    for (const control of page.connection.values()) clearInvalid(control);
    if (page.operationControl) clearInvalid(page.operationControl);
  }

  // Show a field-named error at its field: open what hides it, outline it, say it under its label,
  // scroll to it and focus it.
  function markInvalid(operation, result) {
    clearAllInvalid();
    const control = namedControl(operation, result);
    if (!control) return;
    for (let node = control.node.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    control.node.classList.add("invalid");
    control.node.dataset.error = "true";
    control.input.setAttribute("aria-invalid", "true");
    control.note.textContent = result.description || result.message || "";
    control.input.scrollIntoView({ block: "center" });
    control.input.focus({ preventScroll: true });
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
    $("connection-description").textContent = page.help.connection || manifest.description || "";
    for (const [key, field] of Object.entries(manifest.properties || {})) {
      const fallback = defaults[key] && primitive(defaults[key].value);
      const control = renderField(key, field, {
        scope: "connection",
        secret: secrets.has(key),
        required: required.has(key),
        // an empty field means the plugin's default: show it as the placeholder
        placeholder: fallback === undefined ? (field.placeholder ?? "") : String(fallback),
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
    // while the simulator answers there is nothing to set: the panel folds to one line
    $("connection-fold").open = !page.state.simulator.active;
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
    $("connection-summary").textContent = page.state.simulator.active
      ? "offline simulator answers"
      : "Portkey" + (view.gatewayUrl && view.gatewayUrl.value ? ` at ${view.gatewayUrl.value}` : "");
  }

  async function saveConnection() {
    const changes = {};
    for (const key of page.dirty) changes[key] = page.connection.get(key).get();
    const status = $("connection-status");
    clearAllInvalid();
    try {
      page.state = await api("api/connection", { changes });
      page.dirty.clear();
      showConnectionView(page.state.connection, false);
      showBanner();
      setStatus(status, "Saved.", "ok");
    } catch (error) {
      setStatus(status, `Not saved: ${error.message}`, "failed");
      if (error.result && error.result.data) markInvalid(null, error.result);
    }
  }

  async function testConnection() {
    const status = $("connection-status");
    setStatus(status, "Testing…", "busy");
    try {
      const result = await api("api/test-connection", {});
      const where = result.simulator ? " The offline Portkey simulator answered (no API key or gateway URL is saved)." : "";
      setStatus(status, result.status === "ok"
        ? `Connection ok.${where}`
        : `Connection failed: ${result.message}${where}`, result.status);
    } catch (error) {
      setStatus(status, `Connection failed: ${error.message}`, "failed");
    }
  }

  function showBanner() {
    const banner = $("banner");
    const simulator = page.state.simulator;
    banner.hidden = !simulator.active;
    banner.textContent = simulator.active
      ? "Offline: queries are answered by the offline Portkey simulator (no API key or gateway URL is saved). "
        + "Open Data source and save an API key to use Portkey."
      : "";
  }

  // -- the query form ----------------------------------------------------------------------------------

  function operationFields(operation) {
    const properties = page.operations.properties || {};
    const common = (properties.operation && properties.operation.commonFields) || {};
    return { ...common, ...(properties[operation] || {}) };
  }

  function layoutOf(operation) {
    const fields = Object.keys(operationFields(operation));
    return page.layout[operation] || { core: fields, advanced: [], examples: {} };
  }

  // What a field starts with: the file's defaults, then the layout's example.
  function initialValue(operation, key, field) {
    const defaults = page.operations.defaults || {};
    const perOperation = defaults[operation] && typeof defaults[operation] === "object" ? defaults[operation] : {};
    const examples = layoutOf(operation).examples || {};
    const candidates = [perOperation[key], defaults[key], field.default, field.schema && field.schema.default,
      examples[key]];
    for (const candidate of candidates) {
      if (primitive(candidate) !== undefined) return candidate;
    }
    return undefined;
  }

  function loadExample(operation) {
    const query = page.queries.get(operation);
    for (const [key, control] of query.controls) {
      const value = initialValue(operation, key, control.field);
      control.set(value === undefined ? "" : value);
      control.edited = false;
      clearInvalid(control);
      if (control.node.choices && !control.get()) {
        const choices = control.node.choices();
        if (choices.length) control.set(choices[0]);
      }
    }
    fillFollowUps();
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
    const help = page.operationControl.node.querySelector(".help");
    if (help && page.help.operation) help.textContent = page.help.operation;
    const example = el("button", { id: "load-example", type: "button", className: "secondary small",
      text: "Load example" });
    example.addEventListener("click", () => loadExample(currentOperation()));
    page.operationControl.node.querySelector("label").after(example);
    form.append(page.operationControl.node);
    for (const choice of choicesOf(selector)) {
      const operation = choice.value;
      const fields = operationFields(operation);
      const layout = layoutOf(operation);
      const fieldset = el("fieldset", { className: "operation", dataset: { operation } },
        el("legend", { text: choice.name }));
      const advancedKeys = layout.advanced.filter((key) => key in fields);
      const advanced = el("details", { className: "advanced", dataset: { operation } },
        el("summary", { text: `Advanced (${advancedKeys.length})` }));
      const controls = new Map();
      const draw = (key) => {
        const control = renderField(key, fields[key], {
          scope: `query-${operation}`,
          initial: initialValue(operation, key, fields[key]),
          dependsOn: (dependency) => (dependency === "operation" ? operation
            : controls.has(dependency) ? controls.get(dependency).get() : ""),
          invoke: page.state.invokeMethod ? (method, args) => api("api/invoke", { method, args }) : null,
        });
        controls.set(key, control);
        return control.node;
      };
      for (const key of layout.core) if (key in fields) fieldset.append(draw(key));
      for (const key of advancedKeys) advanced.append(draw(key));
      if (advancedKeys.length) fieldset.append(advanced);
      page.queries.set(operation, { node: fieldset, controls, fetched: false, advanced });
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
        if (control.fetchChoices && control.field.autoFetch) control.node.pending = control.fetchChoices();
      }
    }
    $("run-stream").disabled = !page.state.streamable.includes(operation);
  }

  // The model lists still being fetched for an operation: a Run waits for them (they fill the model).
  async function fetched(operation) {
    const query = page.queries.get(operation);
    await Promise.all(Array.from(query.controls.values(), (control) => control.node.pending));
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

  // What an answer names fills the forms that take it, unless the user typed a value: its trace id the
  // feedback form's, a submitted batch's id the batch forms': rating the last answer, or polling the last
  // batch, is then one Run away.
  function remember(metadata) {
    if (metadata.traceId) page.last.traceId = metadata.traceId;
    if (metadata.batch && typeof metadata.batch.id === "string") page.last.batchId = metadata.batch.id;
    fillFollowUps();
  }

  function fillFollowUps() {
    for (const [operation, query] of page.queries) {
      const examples = layoutOf(operation).examples || {};
      const fields = layoutOf(operation).core;
      for (const [key, value] of Object.entries(page.last)) {
        const control = query.controls.get(key);
        if (control && examples[key] !== undefined && fields.includes(key) && !control.edited) control.set(value);
      }
    }
  }

  // -- raw JSON as a tree, with copy ---------------------------------------------------------------------

  function jsonTree(value, name, depth) {
    const label = name === undefined ? null : el("span", { className: "json-key", text: `${name}: ` });
    if (value === null || typeof value !== "object") {
      const kind = value === null ? "null" : typeof value;
      return el("li", { className: "json-leaf" }, label,
        el("span", { className: `json-${kind}`, text: JSON.stringify(value) }));
    }
    const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
    const size = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    const shown = entries.slice(0, 100);
    const list = el("ul", { className: "json-list" }, ...shown.map(([key, item]) => jsonTree(item, key, depth + 1)));
    if (entries.length > shown.length) {
      list.append(el("li", { className: "json-more", text: `… ${entries.length - shown.length} more` }));
    }
    return el("li", { className: "json-node" }, el("details", { open: depth < 2 },
      el("summary", {}, label, el("span", { className: "json-size", text: size })), list));
  }

  function rawView(value) {
    const copy = el("button", { type: "button", className: "secondary small", text: "Copy JSON" });
    const copied = el("span", { className: "status", role: "status" });
    copy.addEventListener("click", async () => {
      await copyText(JSON.stringify(value, null, 2));
      setStatus(copied, "Copied.", "ok");
    });
    const tree = el("ul", { id: "data", className: "json-tree", dataset: { json: JSON.stringify(value) } },
      jsonTree(value, undefined, 0));
    return el("div", { className: "raw" }, el("div", { className: "actions" }, copy, copied), tree);
  }

  // -- results, as what they are -------------------------------------------------------------------------

  const METADATA_ROWS = [
    ["traceId", "Trace ID"],
    ["cacheStatus", "Cache status"],
    ["retries", "Retries (client)"],
    ["retryAttemptCount", "Retries (gateway)"],
    ["usage", "Usage"],
    ["cost", "Cost (USD)"],
  ];

  // Fallbacks and guardrails (docs/routing.md) in words: which target answered, what the checks found
  const ROUTING_ROWS = {
    servedBy: ["Served by", (v) => `targets[${v.index}]` + (v.model ? `: ${v.model}` : "") +
      (v.provider ? ` (${v.provider})` : "")],
    guardrails: ["Guardrails", guardrailText],
  };

  function guardrailText(verdicts) {
    const failed = (verdicts.checks || []).filter((check) => check.verdict !== "passed");
    return [verdicts.verdict, ...failed.map((check) =>
      `${check.id}: ${check.explanation || check.verdict}`)].join("; ");
  }

  // What an answer cost, as a builder reads it: "$0.0000084", or why it could not be priced (docs/cost.md)
  // Dollars as plain decimals, never 1e-7: to the 12th place, trailing zeros dropped.
  function usd(amount) {
    return `$${amount.toFixed(12).replace(/0+$/, "").replace(/\.$/, "")}`;
  }

  function costText(cost, metadata) {
    if (cost && typeof cost.total === "number") {
      return usd(cost.total) + (cost.cacheHit ? " (cache hit)" : "");
    }
    const warnings = (metadata && metadata.warnings) || [];
    return cost === null ? `unknown: ${warnings.join("; ") || "not priced"}` : "—";
  }

  function metadataTable(metadata, data) {
    const rows = [];
    const shown = new Set();
    const usage = metadata.usage ?? (isObject(data) ? data.usage : undefined);
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
      const [label, text] = ROUTING_ROWS[key] || [key, compact];
      if (!shown.has(key)) rows.push([key, label, value && typeof value === "object" ? text(value) : compact(value)]);
    }
    return el("table", { id: "metadata", className: "metadata" },
      el("tbody", {}, ...rows.map(([key, label, value]) => el("tr", { dataset: { key } },
        el("th", { scope: "row", text: label }), el("td", { text: value })))));
  }

  function tokens(usage) {
    if (!isObject(usage)) return null;
    const parts = [["prompt_tokens", "in"], ["completion_tokens", "out"], ["total_tokens", "total"]]
      .filter(([key]) => typeof usage[key] === "number").map(([key, name]) => `${usage[key]} ${name}`);
    return parts.length ? `Tokens: ${parts.join(" · ")}` : null;
  }

  function toolCalls(calls) {
    return el("div", { className: "tool-calls" }, ...calls.map((call) => {
      const fn = (call && call.function) || {};
      let args = fn.arguments;
      try { args = JSON.stringify(JSON.parse(args), null, 2); } catch (error) { /* shown as sent */ }
      return el("div", { className: "tool-call" },
        el("div", { className: "tool-name", text: `Tool call: ${fn.name || "(unnamed)"}` }),
        el("pre", { className: "tool-args", text: args ?? "" }));
    }));
  }

  // Chat, completion and prompt completion answers: each choice's text, its finish reason, the tokens.
  function answerCard(data, metadata) {
    const cards = data.choices.map((choice, index) => {
      const message = isObject(choice.message) ? choice.message : {};
      const text = message.content ?? choice.text ?? "";
      const facts = [choice.finish_reason ? `Finish reason: ${choice.finish_reason}` : null];
      return el("article", { className: "answer-card", dataset: { index: String(index) } },
        data.choices.length > 1 ? el("div", { className: "card-title", text: `Choice ${index + 1}` }) : null,
        text === "" ? null : el("div", { className: "answer-text", text: typeof text === "string" ? text : pretty(text) }),
        Array.isArray(message.tool_calls) ? toolCalls(message.tool_calls) : null,
        el("div", { className: "answer-facts", text: facts.filter(Boolean).join(" · ") }));
    });
    const usage = tokens(metadata.usage ?? data.usage);
    return el("div", { className: "answer" }, ...cards,
      usage ? el("div", { className: "answer-facts tokens", text: usage }) : null);
  }

  // Simulator images are served by the playground itself (the page loads nothing from elsewhere);
  // base64 images are data: URIs. Any other URL is a link.
  function imageSource(url) {
    const simulator = page.state.simulator.url.replace(/\/v1\/?$/, "");
    const prefix = `${simulator}/_simulator/images/`;
    if (url.startsWith(prefix)) return `images/${url.slice(prefix.length)}`;
    if (url.startsWith("data:image/")) return url;
    return null;
  }

  function imagesView(urls) {
    return el("div", { className: "image-list" }, ...urls.map((url, index) => {
      const source = imageSource(url);
      return el("figure", { className: "image" },
        source ? el("img", { src: source, alt: `Generated image ${index + 1}` })
          : el("a", { href: url, target: "_blank", rel: "noreferrer", text: `Image ${index + 1} (opens its URL)` }),
        el("figcaption", { text: url.startsWith("data:") ? `Image ${index + 1} (base64)` : url }));
    }));
  }

  function embeddingsView(vectors) {
    const dimensions = vectors.length ? vectors[0].length : 0;
    return el("div", { className: "embeddings" },
      el("div", { className: "answer-text", text: `${vectors.length} vector${vectors.length === 1 ? "" : "s"} x ${dimensions} dimensions` }),
      el("ol", { className: "vectors" }, ...vectors.slice(0, 5).map((vector) => el("li", {
        text: `[${vector.slice(0, 6).map((v) => Number(v).toFixed(4)).join(", ")}${vector.length > 6 ? ", …" : ""}]` }))),
      vectors.length > 5 ? el("div", { className: "answer-facts", text: `… and ${vectors.length - 5} more` }) : null);
  }

  // A model list: a row sets the Model field of every form whose model list offers it.
  function modelsView(models) {
    const status = el("div", { className: "status", role: "status" });
    const rows = models.map((model) => {
      const id = typeof model === "string" ? model : String(model.id);
      const use = el("button", { type: "button", className: "secondary small", text: "Use",
        "aria-label": `Use ${id} as the model` });
      use.addEventListener("click", () => {
        const set = [];
        for (const [operation, query] of page.queries) {
          // the model field: the one whose choices are fetched (a dynamic-selector)
          const control = Array.from(query.controls.values()).find((c) => c.field.type === "dynamic-selector");
          if (!control) continue;
          const offers = control.node.choices ? control.node.choices().includes(id) : false;
          if (offers || operation === currentOperation()) {
            control.set(id);
            control.edited = true;
            set.push(operation);
          }
        }
        setStatus(status, set.length ? `Model set to ${id} for ${set.join(", ")}.` : `No form offers ${id}.`, "ok");
      });
      const cells = typeof model === "string" ? [model, "", ""]
        : [model.id, model.owned_by ?? model.provider ?? "", model.object ?? ""];
      return el("tr", { dataset: { model: id } }, ...cells.map((cell) => el("td", { text: String(cell) })),
        el("td", {}, use));
    });
    return el("div", { className: "models" },
      el("table", { className: "models-table" },
        el("thead", {}, el("tr", {}, ...["Model", "Owned by", "Object", ""].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...rows)), status);
  }

  // A table run's or a batch's rows, as a table binds them: each row's status, its output or its error,
  // and its cost.
  function rowsView(rows) {
    const ids = rows.some((row) => typeof row.customId === "string");
    const costs = rows.some((row) => "cost" in row);
    const outcome = (row) => {
      if (row.status === "ok") return typeof row.output === "string" ? row.output : JSON.stringify(row.output);
      if (row.status === "skipped") return `skipped: ${row.reason}`;
      return row.error ? row.error.description || row.error.message : "";
    };
    const heads = ["Row", ids ? "Custom ID" : null, "Status", "Output", costs ? "Cost (USD)" : null];
    const cells = (row) => [String(row.row), ids ? row.customId ?? "" : null, row.status, outcome(row),
      costs ? (typeof row.cost === "number" ? usd(row.cost) : "—") : null];
    const counted = rows.filter((row) => row.status === "ok").length;
    return el("div", { className: "rows-scroll" },
      el("div", { className: "answer-facts", text: `${counted} of ${rows.length} rows ok` }),
      el("table", { className: "rows-table" },
        el("thead", {}, el("tr", {}, ...heads.filter((h) => h !== null).map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...rows.map((row) => el("tr", { dataset: { row: String(row.row), status: row.status } },
          ...cells(row).filter((c) => c !== null).map((c, i, shown) =>
            el("td", { text: c, className: costs && i === shown.length - 1 ? "cost" : "" })))))));
  }

  function messagesView(messages) {
    return el("ol", { className: "message-list" }, ...messages.map((message) => el("li", { className: "message-item" },
      el("span", { className: "role", text: String(message.role ?? "") }),
      el("div", { className: "answer-text", text: typeof message.content === "string" ? message.content : pretty(message.content) }))));
  }

  function isVector(value) {
    return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "number");
  }

  function isImageUrl(value) {
    return typeof value === "string" && (/^data:image\//.test(value) || /^https?:\/\/.+\.(png|jpe?g|webp|gif)(\?|$)/i.test(value));
  }

  // What the data is, by its shape: the view that shows it as that, or null (then raw JSON only).
  function answerView(data, metadata) {
    if (typeof data === "string") {
      return el("div", { className: "answer" }, el("article", { className: "answer-card" },
        el("div", { className: "answer-text", text: data })));
    }
    if (isObject(data) && Array.isArray(data.choices)) return answerCard(data, metadata);
    const list = isObject(data) && Array.isArray(data.data) ? data.data : Array.isArray(data) ? data : null;
    if (list && list.length && list.every((item) => isObject(item) && isVector(item.embedding))) {
      return embeddingsView(list.map((item) => item.embedding));
    }
    if (list && list.length && list.every(isVector)) return embeddingsView(list);
    if (list && list.length && list.every((item) => isObject(item) && (item.url || item.b64_json))) {
      return imagesView(list.map((item) => item.url || `data:image/png;base64,${item.b64_json}`));
    }
    if (list && list.length && list.every(isImageUrl)) return imagesView(list);
    if (list && list.length && list.every((item) => isObject(item) && Number.isInteger(item.row) && typeof item.status === "string")) {
      return rowsView(list);
    }
    if (list && list.every((item) => typeof item === "string" || (isObject(item) && typeof item.id === "string"))) {
      return modelsView(list);
    }
    const rendered = isObject(data) && isObject(data.data) ? data.data : data;
    if (isObject(rendered) && Array.isArray(rendered.messages)) return messagesView(rendered.messages);
    if (Array.isArray(data) && data.every((item) => isObject(item) && "role" in item)) return messagesView(data);
    return null;
  }

  // The views of one result: the answer as what it is, and its raw JSON, one click apart.
  function viewSwitch(answer, raw) {
    const buttons = [["Answer", answer], ["Raw JSON", raw]].filter(([, view]) => view).map(([name, view]) => {
      const button = el("button", { type: "button", className: "secondary small view", text: name,
        "aria-pressed": "false", dataset: { view: name === "Answer" ? "answer" : "raw" } });
      button.addEventListener("click", () => {
        for (const b of bar.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
        for (const v of [answer, raw]) if (v) v.hidden = v !== view;
      });
      return button;
    });
    const bar = el("div", { className: "views", role: "group", "aria-label": "Show" }, ...buttons);
    buttons[0].setAttribute("aria-pressed", "true");
    if (answer) raw.hidden = true;
    return bar;
  }

  function renderResult(result) {
    const status = el("div", { id: "result-status", className: `result-status ${result.status}`,
      text: `status: ${result.status}` });
    if (result.status === "ok") {
      const metadata = result.metadata || {};
      const answer = answerView(result.data, metadata);
      const answerBox = answer ? el("div", { id: "answer", className: "answer-view" }, answer) : null;
      const raw = el("div", { id: "raw", className: "raw-view" }, rawView(result.data));
      remember(metadata);
      return [el("div", { className: "result-head" }, status, viewSwitch(answerBox, raw)), answerBox, raw,
        el("details", { className: "metadata-fold", open: true }, el("summary", { text: "Metadata" }), metadataTable(metadata, result.data))].filter(Boolean); // no answer view: the raw JSON alone
    }
    return [status, el("div", { className: "query-error", role: "alert" },
      el("div", { className: "error-message", text: result.message || "Query failed" }),
      el("div", { className: "error-description", text: result.description || result.errorMessage || "" }),
      el("pre", { className: "error-data", text: pretty(result.data || {}) }))];
  }

  function busy(flag) {
    for (const id of ["run", "run-stream", "chat-send"]) $(id).disabled = flag;
    if (!flag) showOperation();
  }

  function failure(result, error) {
    result.replaceChildren(el("div", { id: "result-status", className: "result-status failed", text: "status: failed" }),
      el("div", { className: "query-error", role: "alert" }, el("div", { className: "error-message", text: error.message })));
    result.dataset.state = "failed";
  }

  // On a narrow screen the result is below the form: bring it up, unless a field's error was focused.
  function inView(result, answer) {
    const named = namedControl(currentOperation(), answer);
    if (!named && result.getBoundingClientRect().top > window.innerHeight * 0.6) {
      result.scrollIntoView({ block: "start" });
    }
  }

  async function runQuery() {
    const operation = currentOperation();
    const result = $("result");
    result.dataset.state = "running";
    result.replaceChildren(el("div", { className: "status", text: "Running…" }));
    busy(true);
    try {
      await fetched(operation);
      const answer = await api("api/run", { options: { operation, ...queryValues(operation) } });
      result.replaceChildren(...renderResult(answer));
      result.dataset.state = answer.status;
      markInvalid(operation, answer);
      inView(result, answer);
    } catch (error) {
      failure(result, error);
    } finally {
      busy(false);
    }
  }

  async function streamQuery() {
    const operation = currentOperation();
    const result = $("result");
    const text = el("div", { id: "stream-text", className: "answer-text" });
    const counter = el("div", { className: "status", text: "Streaming…" });
    const live = el("article", { className: "answer-card streaming" }, text);
    result.replaceChildren(live, counter);
    result.dataset.state = "streaming";
    busy(true);
    let chunks = 0;
    try {
      await fetched(operation);
      await events("api/stream", { options: { operation, ...queryValues(operation) } }, (name, data) => {
        if (name === "chunk") {
          chunks += 1;
          text.textContent += data.text;
          counter.textContent = `Streaming… ${chunks} chunks`;
        } else if (name === "done" || name === "error") {
          counter.remove();
          live.classList.remove("streaming");
          live.hidden = data.status === "ok"; // the assembled answer replaces what streamed in
          result.append(...renderResult(data));
          result.dataset.state = data.status;
          markInvalid(operation, data);
        }
      });
    } catch (error) {
      failure(result, error);
    } finally {
      busy(false);
    }
  }

  async function copyAs(kind) {
    const operation = currentOperation();
    const status = $("copy-status");
    $("copy-menu").open = false;
    try {
      await fetched(operation);
      const answer = await api("api/export", { options: { operation, ...queryValues(operation) } });
      if (answer.status !== "ok") {
        markInvalid(operation, answer);
        setStatus(status, `Not copied: ${answer.description}`, "failed");
        return;
      }
      await copyText(answer[kind]);
      setStatus(status, { json: "Query options copied.", python: "Python copied.", curl: "curl copied (the key is $PORTKEY_API_KEY)." }[kind], "ok");
    } catch (error) {
      setStatus(status, `Not copied: ${error.message}`, "failed");
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
    const name = (choicesOf(page.operations.properties.operation).find((c) => c.value === chat.operation)
      || { name: chat.operation }).name;
    $("chat-note").textContent = `A conversation with the ${name} operation: its model, temperature and other `
      + "settings come from the Query tab; its messages are this conversation's. Answers stream in."
      + (chat.feedback ? " Rate an answer to send feedback with its trace id." : "");
  }

  function saveChat() {
    try {
      sessionStorage.setItem(CHAT_STORE, JSON.stringify({ history: page.history, entries: page.entries }));
    } catch (error) { /* storage full or off: the conversation still works */ }
  }

  function restoreChat() {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(CHAT_STORE) || "null"); } catch (error) { saved = null; }
    if (!saved || !Array.isArray(saved.history) || !Array.isArray(saved.entries)) return;
    page.history = saved.history;
    page.entries = saved.entries;
    for (const entry of page.entries) showEntry(entry, "done");
  }

  function newChat() {
    page.history = [];
    page.entries = [];
    $("conversation").replaceChildren();
    saveChat();
    $("chat-input").focus();
  }

  function showEntry(entry, state) {
    const text = el("div", { className: "text", text: entry.message });
    const item = el("li", { className: `entry ${entry.type}`, dataset: { type: entry.type, state } }, text);
    $("conversation").append(item);
    if (entry.type === "response" && entry.traceId && page.state.chat.feedback) thumbs(item, entry);
    return { item, text };
  }

  function thumbs(item, entry) {
    const status = el("span", { className: "rating", role: "status" });
    const buttons = [];
    const show = () => {
      for (const button of buttons) {
        const chosen = button.dataset.rating === entry.rating;
        button.classList.toggle("chosen", chosen);
        button.setAttribute("aria-pressed", String(chosen));
      }
    };
    const rate = async (rating) => {
      for (const b of buttons) b.disabled = true;
      try {
        const result = await api("api/feedback", { traceId: entry.traceId, rating });
        if (result.status === "ok") {
          entry.rating = rating;
          saveChat();
          status.textContent = `feedback sent (${rating})`;
        } else {
          status.textContent = `${result.message}: ${result.description}`;
        }
        status.dataset.state = result.status;
      } catch (error) {
        status.textContent = error.message;
        status.dataset.state = "failed";
      } finally {
        for (const b of buttons) b.disabled = false;
        show();
      }
    };
    for (const [rating, text, title] of [["up", "▲ Good", "Thumbs up"], ["down", "▼ Bad", "Thumbs down"]]) {
      const button = el("button", { type: "button", className: "secondary small thumb", text, title,
        "aria-pressed": "false", dataset: { rating } });
      button.addEventListener("click", () => rate(rating));
      buttons.push(button);
    }
    show();
    item.append(el("div", { className: "thumbs", dataset: { traceId: entry.traceId } }, ...buttons, status));
  }

  async function sendChat(event) {
    if (event) event.preventDefault();
    const input = $("chat-input");
    const prompt = input.value;
    if (!prompt.trim() || $("chat-send").disabled) return;
    input.value = "";
    await chatTurn(prompt);
    input.focus();
  }

  // One turn: the message and its answer join the history only when the answer came; a failed turn is
  // marked, kept out of the history, and offers Retry.
  async function chatTurn(prompt) {
    const chat = page.state.chat;
    const mine = showEntry({ type: "message", message: prompt }, "sending");
    const answer = showEntry({ type: "response", message: "" }, "streaming");
    let traceId = null;
    let failed = null;
    let done = null;
    busy(true);
    try {
      await fetched(chat.operation);
      await events("api/chat", { history: page.history, prompt, fields: queryValues(chat.operation) }, (name, data) => {
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
      mine.item.dataset.state = "failed";
      answer.item.className = "entry error";
      answer.item.dataset.type = "error";
      answer.item.dataset.state = "failed";
      answer.text.textContent = `${failed.message}: ${failed.description}`;
      const retry = el("button", { type: "button", className: "secondary small retry", text: "Retry" });
      retry.addEventListener("click", () => {
        mine.item.remove();
        answer.item.remove();
        chatTurn(prompt).then(() => $("chat-input").focus());
      });
      answer.item.append(el("div", { className: "thumbs" }, retry));
      return;
    }
    const reply = { type: "response", message: answer.text.textContent, traceId };
    page.history.push({ message: prompt, type: "message" }, { message: reply.message, type: "response" });
    page.entries.push({ type: "message", message: prompt }, reply);
    saveChat();
    mine.item.dataset.state = "done";
    const metadata = (done && done.metadata) || {};
    if ("cost" in metadata) {
      answer.item.append(el("div", { className: "cost", text: `cost: ${costText(metadata.cost, metadata)}` }));
    }
    if (chat.feedback && traceId) thumbs(answer.item, reply);
    answer.item.dataset.state = "done";
  }

  // -- tabs, keys and start-up ----------------------------------------------------------------------------

  function tabs() {
    return Array.from(document.querySelectorAll(".tabs [role=tab]")).filter((tab) => !tab.hidden);
  }

  function showTab(name, focus) {
    for (const button of tabs()) {
      const selected = button.dataset.tab === name;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      if (selected && focus) button.focus();
    }
    $("tab-query").hidden = name !== "query";
    $("tab-chat").hidden = name !== "chat";
    if (name === "chat" && !focus) $("chat-input").focus();
  }

  function tabKeys(event) {
    const all = tabs();
    const index = all.indexOf(event.target);
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: all.length - 1 }[event.key];
    if (next === undefined || index < 0) return;
    event.preventDefault();
    showTab(all[(next + all.length) % all.length].dataset.tab, true);
  }

  function keys(event) {
    if (event.key !== "Enter" || event.isComposing) return;
    if (event.ctrlKey || event.metaKey) { // Ctrl/Cmd+Enter runs what the view shows, from any field
      event.preventDefault();
      if (!$("tab-chat").hidden) sendChat();
      else if (!$("run").disabled) runQuery();
    } else if (event.target === $("chat-input") && !event.shiftKey) { // Enter sends, Shift+Enter: a new line
      event.preventDefault();
      sendChat();
    }
  }

  async function start() {
    try {
      const [spec, state] = await Promise.all([api("api/spec"), api("api/state")]);
      page.manifest = spec.manifest;
      page.operations = spec.operations;
      page.layout = spec.layout || {};
      page.help = spec.help || {};
      page.state = state;
    } catch (error) {
      const failed = $("load-error");
      failed.hidden = false;
      failed.textContent = `The playground could not load its forms: ${error.message}`;
      return;
    }
    const source = page.manifest.source || {};
    $("title").textContent = `${source.name || page.manifest.title} playground`;
    showBanner();
    renderConnection();
    renderQueries();
    renderChatNote();
    if (page.state.chat) restoreChat();
    $("save-connection").addEventListener("click", saveConnection);
    $("test-connection").addEventListener("click", testConnection);
    $("run").addEventListener("click", runQuery);
    $("run-stream").addEventListener("click", streamQuery);
    for (const button of document.querySelectorAll("[data-copy]")) {
      button.addEventListener("click", () => copyAs(button.dataset.copy));
    }
    $("chat-form").addEventListener("submit", sendChat);
    $("chat-new").addEventListener("click", newChat);
    for (const button of document.querySelectorAll(".tabs [role=tab]")) {
      button.addEventListener("click", () => showTab(button.dataset.tab, false));
      button.addEventListener("keydown", tabKeys);
    }
    document.addEventListener("keydown", keys);
    document.body.dataset.ready = "true";
  }

  start();
})();
