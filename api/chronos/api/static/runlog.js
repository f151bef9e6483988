// @ts-check
// The run page's log: follows the Server-Sent Events of
// /ui/jobs/{namespace}/{job}/runs/{run}/log/events (one "line" event per log line,
// "end" when the container has ended), and runs the view's tools: the level and step
// filter, the raw view and copy. Each "line" event holds the line as the server renders
// it (runlog_line.html, the same macro that rendered the page's lines, autoescaped); it
// is parsed by DOMParser, which runs nothing, and only its one <li> is added. At most
// data-max lines are kept, and the view scrolls to the newest line only when the reader
// is already at the bottom. Without this script the page still shows the log as it was
// when the page was made, fields folded, and the download works.
(function () {
  /** @type {EventSource | null} */
  let source = null;
  /** @type {HTMLElement | null} */
  let wired = null;

  /** @param {string} id */
  function byId(id) {
    return document.getElementById(id);
  }

  /** The filter's choice: the lowest level rank shown (0: all) and the step ("": all). */
  function chosen() {
    const level = /** @type {HTMLSelectElement | null} */ (byId("log-level"));
    const step = /** @type {HTMLSelectElement | null} */ (byId("log-step"));
    return { rank: Number(level ? level.value : "") || 0, step: step ? step.value : "" };
  }

  /** A line other than a JSON one has no level and no step: any filter hides it.
   * @param {HTMLElement} line @param {{rank: number, step: string}} choice */
  function shown(line, choice) {
    if (choice.rank && !(Number(line.dataset.rank) >= choice.rank)) return false;
    if (choice.step && line.dataset.step !== choice.step) return false;
    return true;
  }

  /** @param {HTMLElement} box */
  function count(box) {
    const all = box.children.length;
    const visible = box.querySelectorAll(":scope > .line:not([hidden])").length;
    const says = byId("log-count");
    if (says) says.textContent = visible === all ? "" : `Showing ${visible} of ${all} lines`;
  }

  /** @param {HTMLElement} box */
  function filter(box) {
    const choice = chosen();
    for (const line of Array.from(box.children)) {
      const item = /** @type {HTMLElement} */ (line);
      item.hidden = !shown(item, choice);
    }
    count(box);
  }

  /** A step the step filter does not offer yet (a live line's) becomes a choice.
   * @param {HTMLElement} line */
  function offerStep(line) {
    const step = line.dataset.step;
    const select = /** @type {HTMLSelectElement | null} */ (byId("log-step"));
    if (!step || !select) return;
    if (Array.from(select.options).some((o) => o.value === step)) return;
    const option = document.createElement("option");
    option.textContent = step;
    select.appendChild(option);
  }

  /** @param {HTMLElement} box @param {string} html the server's rendering of one line */
  function append(box, html) {
    const parsed = new DOMParser().parseFromString(`<ol>${html}</ol>`, "text/html");
    const line = parsed.querySelector("ol > li.line");
    if (!line) return;
    const item = /** @type {HTMLElement} */ (document.importNode(line, true));
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 10;
    item.hidden = !shown(item, chosen());
    box.appendChild(item);
    offerStep(item);
    const max = Number(box.dataset.max) || 1000;
    while (box.childElementCount > max && box.firstElementChild) {
      box.firstElementChild.remove();
    }
    count(box);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  /** @param {string} text */
  function say(text) {
    const state = byId("log-state");
    if (state) state.textContent = text;
  }

  // The page may have been made before the pod started ("nothing yet", with a note
  // saying so): once its lines come, say where they come from.
  function following() {
    const says = document.querySelector("#log-source strong");
    if (says) says.textContent = "live from the run's pod";
    const note = byId("log-note");
    if (note) note.remove();
  }

  /** The raw text of the lines shown, one a line (as the runner wrote them).
   * @param {HTMLElement} box */
  function shownText(box) {
    const lines = box.querySelectorAll(":scope > .line:not([hidden]) > .raw");
    return Array.from(lines, (raw) => `${raw.textContent}\n`).join("");
  }

  /** Copies ``text``: the Clipboard API where the page is a secure context (HTTPS or
   * localhost), else a selected, off-screen text area and the copy command.
   * @param {string} text @returns {Promise<void>} */
  async function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    if (!done) throw new Error("the browser refused to copy");
  }

  /** @param {HTMLElement} box */
  function tools(box) {
    const form = byId("log-tools");
    // nothing to filter, and nothing coming: the tools stay hidden
    if (!form || (!box.childElementCount && !box.dataset.stream)) return;
    form.hidden = false;
    form.addEventListener("submit", (e) => e.preventDefault());
    byId("log-level")?.addEventListener("change", () => filter(box));
    byId("log-step")?.addEventListener("change", () => filter(box));
    const raw = byId("log-raw");
    raw?.addEventListener("click", () => {
      const on = box.classList.toggle("raw");
      raw.setAttribute("aria-pressed", String(on));
    });
    byId("log-copy")?.addEventListener("click", () => {
      const text = shownText(box);
      const n = text ? text.split("\n").length - 1 : 0;
      const says = byId("log-count");
      copy(text).then(
        () => says && (says.textContent = `Copied ${n} line${n === 1 ? "" : "s"}`),
        (err) => says && (says.textContent = `Could not copy: ${err}; use Download instead`),
      );
    });
    filter(box);
  }

  /** @param {HTMLElement} box */
  function follow(box) {
    if (!box.dataset.stream) return;
    const since = box.dataset.since;
    const url = box.dataset.stream + (since ? "?since=" + encodeURIComponent(since) : "");
    const events = new EventSource(url);
    source = events;
    box.scrollTop = box.scrollHeight;
    let announced = false;
    events.addEventListener("line", (e) => {
      if (!announced) following();
      announced = true;
      append(box, /** @type {MessageEvent} */ (e).data);
    });
    events.addEventListener("end", (e) => {
      events.close();
      say("The run's container has ended: " + /** @type {MessageEvent} */ (e).data);
    });
    events.addEventListener("waiting", (e) => say(/** @type {MessageEvent} */ (e).data));
    events.addEventListener("unavailable", (e) => {
      events.close();
      say("The live log stopped: " + /** @type {MessageEvent} */ (e).data);
    });
    events.addEventListener("open", () => say("Following the log live…"));
  }

  function wire() {
    const box = byId("log");
    if (box === wired) return;
    if (source) source.close(); // another page was swapped in (hx-boost)
    source = null;
    wired = box;
    if (!box) return;
    tools(box);
    follow(box);
  }

  wire();
  // hx-boost swaps pages in without a load event
  document.addEventListener("htmx:afterSettle", wire);
})();
