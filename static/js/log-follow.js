// Follows a deployment's build log without reloading the page; the state, the address
// and the buttons above it are kept current by live.js, like every page's.
(function () {
  "use strict";
  const box = document.getElementById("deployment");
  if (!box) return;
  const logUrl = box.dataset.logUrl;
  let after = parseInt(box.dataset.after || "0", 10);
  const log = document.getElementById("log");

  function append(lines) {
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    for (const line of lines) {
      const span = document.createElement("span");
      span.dataset.seq = line.seq;
      span.textContent = line.text + "\n";
      log.appendChild(span);
      after = line.seq;
    }
    if (lines.length && atBottom) window.scrollTo(0, document.body.scrollHeight);
  }

  async function poll() {
    let done = false;
    try {
      const response = await fetch(logUrl + "?after=" + after, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        append(data.lines);
        // Keep reading while lines are still coming, even once settled.
        done = data.final && data.lines.length === 0;
      }
    } catch (err) {
      // The portal restarting or the network blinking: try again shortly.
    }
    if (!done) window.setTimeout(poll, 1000);
  }
  poll();
})();
