// @ts-check
// The job form shows only the id fields the chosen task type needs (entity_* tasks:
// entity ids; group_* tasks: group ids; *_wait tasks: what they wait for). Without this script every field stays visible
// and the server still judges them (the model's 422 names the field).
(function () {
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
      doc.querySelectorAll("[data-wait]").forEach((el) => {
        /** @type {HTMLElement} */ (el).hidden = !select.value.endsWith("_wait");
      });
    };
    select.addEventListener("change", show);
    show();
  }
  wire(document);
  // hx-boost swaps pages in without a load event
  document.addEventListener("htmx:afterSettle", () => wire(document));
})();
