// Shows the running instance's output and follows it, filtered by text, without reloading.
(function () {
  "use strict";
  const box = document.getElementById("runtime");
  if (!box) return;
  const url = box.dataset.logsUrl;
  const log = document.getElementById("runtime-log");
  const status = document.getElementById("runtime-status");
  const filter = document.getElementById("log-filter");
  const follow = document.getElementById("log-follow");
  // The process type whose output shows (web, worker, ...), when the service has more than web.
  const process = document.getElementById("log-process");
  let after = null;
  let timer = null;
  // A new filter starts the log afresh: an answer to an older question is dropped, or
  // its lines would show a second time below the fresh ones.
  let asked = 0;

  function show(lines) {
    for (const line of lines) {
      const span = document.createElement("span");
      span.textContent = line.text + "\n";
      span.dataset.time = line.time;
      log.appendChild(span);
    }
    if (lines.length) {
      // Each line carries its place in the stored log: ask for what comes after it.
      after = lines[lines.length - 1].id;
      log.scrollTop = log.scrollHeight;
    }
  }

  async function load(fresh) {
    const params = new URLSearchParams({ q: filter.value });
    if (process) params.set("process", process.value);
    if (fresh || after === null) params.set("tail", "200");
    else params.set("after", after);
    const question = fresh ? ++asked : asked;
    try {
      const response = await fetch(url + "?" + params, { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (question !== asked) return;
      if (fresh) log.textContent = "";
      if (!data.running) status.textContent = "Not running: nothing to show.";
      else status.textContent = "";
      if (data.lines) show(data.lines);
    } catch (err) {
      status.textContent = "Could not reach the portal; trying again.";
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    if (follow.checked) timer = window.setTimeout(async () => { await load(false); schedule(); }, 1000);
  }

  filter.addEventListener("input", async () => { after = null; await load(true); schedule(); });
  follow.addEventListener("change", schedule);
  if (process) process.addEventListener("change", async () => { after = null; await load(true); schedule(); });
  load(true).then(schedule);
})();
