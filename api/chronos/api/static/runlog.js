// @ts-check
// The run page's live log: follows the Server-Sent Events of
// /ui/jobs/{namespace}/{job}/runs/{run}/log/events (one "line" event per log line,
// "end" when the container has ended). Lines are added as text (textContent, never
// HTML: log lines are anyone's text), at most data-max of them are kept, and the view
// scrolls to the newest line only when the reader is already at the bottom. Without
// this script the page still shows the log as it was when the page was made.
(function () {
  /** @type {EventSource | null} */
  let source = null;
  /** @type {HTMLElement | null} */
  let wired = null;

  /** @param {HTMLElement} box @param {string} text */
  function append(box, text) {
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 10;
    const line = document.createElement("span");
    line.className = "line";
    line.textContent = text + "\n";
    box.appendChild(line);
    const max = Number(box.dataset.max) || 1000;
    while (box.childElementCount > max && box.firstElementChild) {
      box.firstElementChild.remove();
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  /** @param {string} text */
  function say(text) {
    const state = document.getElementById("log-state");
    if (state) state.textContent = text;
  }

  // The page may have been made before the pod started ("nothing yet", with a note
  // saying so): once its lines come, say where they come from.
  function following() {
    const says = document.querySelector("#log-source strong");
    if (says) says.textContent = "live from the run's pod";
    const note = document.getElementById("log-note");
    if (note) note.remove();
  }

  function wire() {
    const box = document.getElementById("log");
    if (box === wired) return;
    if (source) source.close(); // another page was swapped in (hx-boost)
    source = null;
    wired = box;
    if (!box || !box.dataset.stream) return;
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

  wire();
  // hx-boost swaps pages in without a load event
  document.addEventListener("htmx:afterSettle", wire);
})();
