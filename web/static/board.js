// The bed board: numbers change in place as reports arrive; filters work without a reload.
import { connectLive, relativeTimes, statusReporter } from "./live.js";

const boardEl = document.getElementById("board");
const filtersEl = document.getElementById("board-filters");
const emptyEl = document.getElementById("board-empty");
const totalEl = document.getElementById("total-free");
const SEVERITY = { fresh: 0, late: 1, stale: 2, never: 3 };
const LABELS = { fresh: "Fresh", late: "Late", stale: "Stale", never: "Never reported" };
const TONES = { fresh: "ok", late: "warn", stale: "bad", never: "bad" };
const refreshTimes = relativeTimes();

function badge(state) {
  const span = document.createElement("span");
  span.className = `badge badge--${TONES[state]}`;
  span.dataset.freshness = state;
  span.textContent = LABELS[state];
  return span;
}

function timeCell(iso) {
  if (!iso) return document.createTextNode("—");
  const el = document.createElement("time");
  el.setAttribute("datetime", iso);
  el.dataset.relative = "";
  el.textContent = iso;
  return el;
}

function setCell(row, field, content) {
  const cell = row.querySelector(`[data-field="${field}"]`);
  if (!cell) return;
  cell.replaceChildren(content);
}

function updateFacility(article) {
  let worst = "fresh";
  for (const b of article.querySelectorAll("tbody [data-field=freshness] .badge")) {
    if (SEVERITY[b.dataset.freshness] > SEVERITY[worst]) worst = b.dataset.freshness;
  }
  article.querySelector(".facility__freshness").replaceChildren(badge(worst));
  article.classList.toggle("facility--overdue", worst !== "fresh");
}

function updateTotal() {
  let free = 0;
  for (const row of boardEl.querySelectorAll("tr[data-unit-id]")) free += Number(row.dataset.free);
  totalEl.textContent = String(free);
}

function flash(row) {
  row.classList.remove("changed");
  void row.offsetWidth; // restart the animation
  row.classList.add("changed");
}

let needsReload = false;

function applyUnit(unit) {
  const row = boardEl.querySelector(`tr[data-unit-id="${unit.id}"]`);
  if (!row) {
    needsReload = true; // a unit this page has not drawn yet (added since it loaded)
    return;
  }
  const strong = document.createElement("strong");
  strong.textContent = String(unit.free);
  setCell(row, "free", strong);
  setCell(row, "staffed", document.createTextNode(unit.staffed ?? "—"));
  setCell(row, "occupied", document.createTextNode(unit.occupied ?? "—"));
  setCell(row, "held", document.createTextNode(String(unit.held)));
  setCell(row, "freshness", badge(unit.freshness));
  setCell(row, "as_of", timeCell(unit.as_of));
  row.dataset.free = String(unit.free);
  flash(row);
  updateFacility(row.closest("article"));
}

function applyFreshness(data) {
  const row = boardEl.querySelector(`tr[data-unit-id="${data.unit_id}"]`);
  if (!row) return;
  setCell(row, "freshness", badge(data.freshness));
  updateFacility(row.closest("article"));
}

function applyFilters() {
  const form = new FormData(filtersEl);
  const population = form.get("population");
  const county = form.get("county");
  const need = form.get("need");
  const onlyBeds = form.get("beds") === "1";
  let shown = 0;
  for (const article of boardEl.querySelectorAll("article[data-facility-id]")) {
    let visibleRows = 0;
    const countyOk = !county || article.dataset.county === county;
    for (const row of article.querySelectorAll("tr[data-unit-id]")) {
      const ok =
        countyOk &&
        (!population || row.dataset.population === population) &&
        (!need || row.dataset.specialties.split(" ").includes(need)) &&
        (!onlyBeds || Number(row.dataset.free) > 0);
      row.hidden = !ok;
      if (ok) visibleRows += 1;
    }
    article.hidden = visibleRows === 0;
    shown += visibleRows;
  }
  emptyEl.hidden = shown > 0;
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) if (value) params.set(key, value);
  history.replaceState(null, "", params.size ? `?${params}` : location.pathname);
}

function applyFeed(data) {
  const article = boardEl.querySelector(`article[data-facility-id="${data.facility_id}"]`);
  if (!article) return;
  const holder = article.querySelector(".facility__feed");
  const troubled = data.state === "failing" || data.state === "stopped";
  holder.hidden = !troubled;
  if (troubled) holder.querySelector(".badge").textContent = `Feed ${data.state}`;
}

function onFrame(frame) {
  const data = frame.data;
  if (data.kind === "unit") applyUnit(data.unit);
  else if (data.kind === "freshness") applyFreshness(data);
  else if (data.kind === "feed") applyFeed(data);
  if (needsReload) {
    location.reload(); // draw the new unit; the fresh page subscribes from its own seq
    return;
  }
  updateTotal();
  applyFilters();
  refreshTimes();
}

async function snapshot() {
  const response = await fetch("/api/v1/board", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`board snapshot failed: ${response.status}`);
  const board = await response.json();
  for (const facility of board.facilities) for (const unit of facility.units) applyUnit(unit);
  if (needsReload) location.reload();
  updateTotal();
  applyFilters();
  refreshTimes();
  return board.seq;
}

filtersEl.addEventListener("change", applyFilters);
filtersEl.addEventListener("submit", (event) => {
  event.preventDefault();
  applyFilters();
});
applyFilters();

window.bedboardLive = connectLive({
  topics: ["board"],
  seq: Number(boardEl.dataset.seq),
  onFrame,
  onSnapshot: snapshot,
  onStatus: statusReporter(document.getElementById("live-status")),
});
