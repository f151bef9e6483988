// @ts-check
// The job form shows only the fields the chosen task type needs (entity_* tasks:
// entity ids; group_* tasks: group ids; *_wait tasks: what they wait for; container
// tasks: the container and no CoreHub fields), and the queue bound only under
// Enqueue. Without this script every field stays visible and the server still judges
// them (the model's 422 or 409 names the field).
(function () {
  /**
   * @param {Document} doc
   * @param {string} selector
   * @param {boolean} shown
   */
  function toggle(doc, selector, shown) {
    doc.querySelectorAll(selector).forEach((el) => {
      /** @type {HTMLElement} */ (el).hidden = !shown;
    });
  }
  /** @param {Document} doc */
  function wire(doc) {
    const select = /** @type {HTMLSelectElement | null} */ (doc.getElementById("task_type"));
    if (!select || select.dataset.wired) return;
    select.dataset.wired = "1";
    const show = () => {
      const scope = select.value.split("_")[0];
      doc.querySelectorAll("[data-scope]").forEach((el) => {
        const wrapper = /** @type {HTMLElement} */ (el);
        wrapper.hidden = wrapper.dataset.scope !== scope;
      });
      // What a wait task waits for: only entity_wait and group_wait have one.
      toggle(doc, "[data-wait]", select.value.endsWith("_wait"));
      toggle(doc, "[data-container]", select.value === "container");
      toggle(doc, "[data-corehub]", select.value !== "container");
    };
    select.addEventListener("change", show);
    show();
    const policy = /** @type {HTMLSelectElement | null} */ (doc.getElementById("concurrency_policy"));
    if (policy) {
      const queue = () => toggle(doc, "[data-enqueue]", policy.value === "Enqueue");
      policy.addEventListener("change", queue);
      queue();
    }
  }
  wire(document);
  // hx-boost swaps pages in without a load event
  document.addEventListener("htmx:afterSettle", () => wire(document));
})();
