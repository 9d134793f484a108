// Search results refresh themselves while the page is open and the board changes.
import { connectLive, relativeTimes, statusReporter } from "./live.js";

const results = document.getElementById("search-results");
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
  window.bedboardLive = connectLive({
    topics: ["board"],
    seq: null,
    onFrame() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 500);
    },
    async onSnapshot() {
      await refresh();
      const board = await (await fetch("/api/v1/board", { credentials: "same-origin" })).json();
      return board.seq;
    },
    onStatus: statusReporter(document.getElementById("live-status")),
  });
}
