// Keeps the environment page's service states, URLs and queue positions current without reloading.
(function () {
  "use strict";
  const box = document.getElementById("environment");
  if (!box) return;
  const url = box.dataset.statusUrl;

  function badge(state) {
    const span = document.createElement("span");
    span.className = "state state-" + state;
    span.dataset.state = state;
    span.textContent = state;
    return span;
  }

  async function refresh() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      for (const service of data.services) {
        const row = document.querySelector('tr[data-service-id="' + service.id + '"]');
        if (!row) continue;
        const cell = row.querySelector(".state-cell");
        cell.replaceChildren(badge(service.state || "new"));
        if (service.position) {
          const small = document.createElement("small");
          small.className = "position";
          small.textContent = " #" + service.position + " in queue";
          cell.appendChild(small);
        }
        const urlCell = row.querySelector(".url-cell");
        urlCell.replaceChildren();
        if (service.url) {
          const link = document.createElement("a");
          link.className = "url";
          link.href = service.url;
          link.textContent = service.url;
          urlCell.appendChild(link);
        }
        row.querySelector(".commit-cell").innerHTML = "<code></code>";
        row.querySelector(".commit-cell code").textContent = service.commit;
      }
    } catch (err) {
      // A blink of the network: the next round tries again.
    }
  }
  window.setInterval(refresh, 1500);
})();
