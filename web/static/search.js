// Search results refresh themselves while the page is open and the board changes.
import { connectLive, relativeTimes, statusReporter } from "./live.js";

const results = document.getElementById("search-results");
const statusEl = document.getElementById("live-status"); // hidden until there are results to follow
const params = new URLSearchParams(location.search);
const refreshTimes = relativeTimes();
let timer = null;

async function refresh() {
  const response = await fetch(`/search/results?${params}`, { credentials: "same-origin" });
  if (response.ok) {
    results.innerHTML = await response.text();
    refreshTimes();
  }
}

if (params.get("county")) {
  statusEl.hidden = false;
  window.bedboardLive = connectLive({
    topics: ["board"],
    seq: null,
    onFrame() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 500);
    },
    async onSnapshot() {
      // Take the position first: anything committed after it arrives as a frame.
      const response = await fetch("/api/v1/board", { credentials: "same-origin" });
      if (!response.ok) throw new Error(`board snapshot failed: ${response.status}`);
      const board = await response.json();
      await refresh();
      return board.seq;
    },
    onStatus: statusReporter(statusEl),
  });
}
