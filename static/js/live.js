// Keeps every part of a page that shows changing state current without a reload.
//
// One mechanism for all pages: an element with an id and `data-live` is replaced by the
// element of the same id in a fresh copy of the page, asked for every few seconds. The
// server renders the page as always (the header below only lets it skip what no live
// part shows), so a live part can never disagree with the page a reload would give.
// Messages tagged "transient" ("Deployment queued.") describe a moment: they go as
// soon as a live part changes, or at the first refresh when a part says it is settled.
(function () {
  "use strict";
  const EVERY = 2000;

  function regions() {
    return document.querySelectorAll("[data-live][id]");
  }
  if (!regions().length) return;

  // A form's CSRF token is masked anew on every render: it is no change of state.
  function shape(element) {
    const copy = element.cloneNode(true);
    for (const token of copy.querySelectorAll("input[name=csrfmiddlewaretoken]")) token.remove();
    return copy.innerHTML;
  }

  function typingIn(region) {
    const active = document.activeElement;
    return active && region.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  async function refresh() {
    const response = await fetch(window.location.href, {
      headers: { "X-Live": "1" },
      credentials: "same-origin",
    });
    if (!response.ok || response.redirected) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    let changed = false;
    for (const region of regions()) {
      const next = fresh.getElementById(region.id);
      if (!next || typingIn(region) || shape(next) === shape(region)) continue;
      region.replaceWith(document.importNode(next, true));
      changed = true;
    }
    if (changed || document.querySelector("[data-live][data-settled]")) {
      for (const note of document.querySelectorAll(".message.transient")) note.remove();
    }
  }

  async function loop() {
    if (!document.hidden) {
      try {
        await refresh();
      } catch (err) {
        // The portal restarting or the network blinking: the next round tries again.
      }
    }
    window.setTimeout(loop, EVERY);
  }
  window.setTimeout(loop, EVERY);
})();
