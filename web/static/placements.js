// Placement pages: live countdowns to legal deadlines, and regions that refresh
// themselves when placements, referrals or beds change.
import { connectLive, relativeTimes, statusReporter } from "./live.js";

const offset = document.getElementById("tz-offset");
if (offset) offset.value = String(new Date().getTimezoneOffset());

function describe(ms) {
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  if (days >= 2) return `${days} days ${hours % 24} h`;
  if (hours >= 1) return `${hours} h ${minutes % 60} min`;
  return `${minutes} min`;
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-deadline]")) {
    const left = Date.parse(el.dataset.deadline) - now;
    el.textContent = left > 0 ? `${describe(left)} left` : `Overdue by ${describe(left)}`;
    el.classList.toggle("countdown--overdue", left <= 0);
    el.classList.toggle("countdown--urgent", left > 0 && left < 4 * 3600 * 1000);
  }
}
tick();
setInterval(tick, 1000);
const refreshTimes = relativeTimes();

const region = document.getElementById("live-region");
if (region) {
  const placementId = region.dataset.placementId ? Number(region.dataset.placementId) : null;
  let timer = null;
  let pending = false;

  // Someone has started filling a form in the region (typing a note, choosing a decline
  // reason): do not replace it under them.
  const dirty = (el) => {
    if (el.tagName === "SELECT") {
      const initial = el.querySelector("option[selected]") || el.options[0];
      return initial ? el.value !== initial.value : false;
    }
    return el.value !== el.defaultValue;
  };
  const busy = () =>
    [...region.querySelectorAll("select, textarea, input:not([type=hidden])")].some(dirty);

  const refresh = async () => {
    if (busy()) {
      pending = true; // do not wipe what someone is typing; refresh when they leave the field
      return;
    }
    pending = false;
    const response = await fetch(region.dataset.liveUrl, { credentials: "same-origin" });
    const html = response.ok ? await response.text() : null;
    if (busy()) {
      pending = true; // they started typing while the new content was on its way
      return;
    }
    if (html !== null) {
      region.innerHTML = html;
      tick();
      refreshTimes();
    }
  };
  region.addEventListener("focusout", () => {
    if (pending) setTimeout(refresh, 500);
  });

  const relevant = (frame) => {
    if (placementId === null) return true;
    // Bed changes matter to a placement page only while it still shows beds that fit.
    if (frame.topic === "board") return region.querySelector('h1 [data-status="open"]') !== null;
    return frame.data.placement_id === placementId;
  };

  window.bedboardLive = connectLive({
    topics: region.dataset.topics.split(" "),
    seq: null,
    onFrame(frame) {
      if (!relevant(frame)) return;
      clearTimeout(timer);
      // Bed counts change often: refresh for them at most every few seconds.
      timer = setTimeout(refresh, frame.topic === "board" ? 3000 : 300);
    },
    async onSnapshot() {
      const response = await fetch("/api/v1/board", { credentials: "same-origin" });
      if (!response.ok) throw new Error(`board snapshot failed: ${response.status}`);
      const board = await response.json();
      await refresh();
      return board.seq;
    },
    onStatus: statusReporter(document.getElementById("live-status")),
  });
}
