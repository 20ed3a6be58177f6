// Follows a deployment's build log and state without reloading the page.
(function () {
  "use strict";
  const box = document.getElementById("deployment");
  if (!box) return;
  const logUrl = box.dataset.logUrl;
  let after = parseInt(box.dataset.after || "0", 10);
  const log = document.getElementById("log");
  const state = document.getElementById("state");
  const url = document.getElementById("url");
  const failure = document.getElementById("failure");

  function showState(data) {
    state.innerHTML = "";
    const badge = document.createElement("span");
    badge.className = "state state-" + data.state;
    badge.dataset.state = data.state;
    badge.textContent = data.state;
    state.appendChild(badge);
    url.innerHTML = "";
    if (data.url) {
      url.append("at ");
      const link = document.createElement("a");
      link.className = "url";
      link.href = data.url;
      link.textContent = data.url;
      url.appendChild(link);
    }
    const position = document.getElementById("position");
    if (position) {
      position.hidden = !data.position;
      position.textContent = data.position ? "Number " + data.position + " in the queue for a worker." : "";
    }
    const cancel = document.getElementById("cancel");
    if (cancel && data.final) cancel.hidden = true;
    if (data.failure_reason) {
      failure.textContent = data.failure_reason;
      failure.hidden = false;
    }
  }

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
        showState(data);
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
