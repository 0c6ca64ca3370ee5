// The console's only script: drag and drop onto the upload form, and the live progress of a share pack.
// Plain JavaScript from this origin, so it runs under the Content-Security-Policy's script-src 'self'.
"use strict";

function enableDropzone() {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file");
  const form = document.getElementById("upload-form");
  if (!zone || !input || !form) return;
  const stop = (event) => { event.preventDefault(); event.stopPropagation(); };
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    stop(event);
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, (event) => {
    stop(event);
    zone.classList.remove("dragging");
  }));
  zone.addEventListener("drop", (event) => {
    if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
    input.files = event.dataTransfer.files;
    form.requestSubmit();
  });
}

// Polls at most once a second (the limit) until the pack is COMPLETED or FAILED.
const POLL_INTERVAL_MS = 1000;

function followProgress() {
  const section = document.getElementById("progress");
  if (!section || section.dataset.final === "true") return;
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const error = document.getElementById("progress-error");
  const status = document.getElementById("pack-status");
  const poll = async () => {
    let next = true;
    try {
      const response = await fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const progress = await response.json();
        bar.max = progress.total;
        bar.value = progress.step;
        text.textContent = progress.provisioning_status || "Waiting for a worker";
        status.textContent = progress.status;
        status.className = "status status-" + progress.status.toLowerCase();
        if (progress.error_message) {
          error.textContent = progress.error_message;
          error.hidden = false;
        }
        if (progress.final) {
          section.dataset.final = "true";
          next = false;
          // The plan and history were written while we watched: show them as they are now.
          window.location.reload();
        }
      }
    } catch (err) {
      // A dropped connection: keep polling, the next answer catches up.
    }
    if (next) window.setTimeout(poll, POLL_INTERVAL_MS);
  };
  window.setTimeout(poll, POLL_INTERVAL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  enableDropzone();
  followProgress();
});
