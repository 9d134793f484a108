// The bed board: numbers change in place as reports arrive; filters and sorting work without
// a reload. Each unit is drawn twice (a table row in the facility cards, a line in the phone
// list; CSS shows one of them), so every update goes to each element with its data-unit-id.
import { connectLive, relativeTimes, statusReporter } from "./live.js";

const boardEl = document.getElementById("board");
const compactEl = document.getElementById("board-compact");
const filtersEl = document.getElementById("board-filters");
const emptyEl = document.getElementById("board-empty");
const totalEl = document.getElementById("total-free");
const facilitiesEl = document.getElementById("total-facilities");
const nearEl = document.getElementById("filter-near");
const sortEl = document.getElementById("filter-sort");
const moreEl = document.getElementById("filters-more");
const freeWordEl = document.getElementById("total-free-word");
const facilitiesWordEl = document.getElementById("total-facilities-word");
const PHONE = window.matchMedia("(max-width: 40rem)");
const SEVERITY = { fresh: 0, late: 1, stale: 2, never: 3 };
const LABELS = { fresh: "Fresh", late: "Late", stale: "Stale", never: "Never reported" };
const TONES = { fresh: "ok", late: "warn", stale: "bad", never: "bad" };
const EARTH_RADIUS_KM = 6371.0088; // as bed search measures distance (bedboard/search.py)
const KM_PER_MILE = 1.609344;
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

function setCell(el, field, content) {
  const cell = el.querySelector(`[data-field="${field}"]`);
  if (!cell) return;
  cell.replaceChildren(content);
}

function unitElements(id) {
  const selector = `[data-unit-id="${id}"]`;
  return document.querySelectorAll(`#board ${selector}, #board-compact ${selector}`);
}

function articles() {
  return boardEl.querySelectorAll("article[data-facility-id]");
}

function updateFacility(article) {
  let worst = "fresh";
  for (const b of article.querySelectorAll("tbody [data-field=freshness] .badge")) {
    if (SEVERITY[b.dataset.freshness] > SEVERITY[worst]) worst = b.dataset.freshness;
  }
  article.querySelector(".facility__freshness").replaceChildren(badge(worst));
  article.classList.toggle("facility--overdue", worst !== "fresh");
}

// The total counts only what the filters show.
function updateTotal() {
  let free = 0;
  for (const row of boardEl.querySelectorAll("tr[data-unit-id]:not([hidden])")) {
    free += Number(row.dataset.free);
  }
  totalEl.textContent = String(free);
  freeWordEl.textContent = free === 1 ? "bed" : "beds";
  const shown = boardEl.querySelectorAll("article[data-facility-id]:not([hidden])");
  facilitiesEl.textContent = String(shown.length);
  facilitiesWordEl.textContent = shown.length === 1 ? "facility" : "facilities";
}

function flash(el) {
  el.classList.remove("changed");
  void el.offsetWidth; // restart the animation
  el.classList.add("changed");
}

let needsReload = false;

function applyUnit(unit) {
  const elements = unitElements(unit.id);
  if (elements.length === 0) {
    needsReload = true; // a unit this page has not drawn yet (added since it loaded)
    return;
  }
  for (const el of elements) {
    const strong = document.createElement("strong");
    strong.textContent = String(unit.free);
    setCell(el, "free", strong);
    setCell(el, "staffed", document.createTextNode(unit.staffed ?? "—"));
    setCell(el, "occupied", document.createTextNode(unit.occupied ?? "—"));
    setCell(el, "held", document.createTextNode(String(unit.held)));
    setCell(el, "freshness", badge(unit.freshness));
    setCell(el, "as_of", timeCell(unit.as_of));
    el.dataset.free = String(unit.free);
    flash(el);
  }
  const article = boardEl.querySelector(`article[data-facility-id="${unit.facility_id}"]`);
  if (article) updateFacility(article);
}

function applyFreshness(data) {
  for (const el of unitElements(data.unit_id)) setCell(el, "freshness", badge(data.freshness));
  const row = boardEl.querySelector(`tr[data-unit-id="${data.unit_id}"]`);
  if (row) updateFacility(row.closest("article"));
}

function milesBetween(a, b) {
  const rad = (deg) => (deg * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h =
    Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return (2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h))) / KM_PER_MILE;
}

function chosenOrigin() {
  const option = nearEl.selectedOptions[0];
  if (!option || !option.value) return null;
  return { lat: Number(option.dataset.lat), lon: Number(option.dataset.lon) };
}

// Reorder children only when the order changes, so an open unit line stays put otherwise.
function reorder(parent, items, key) {
  const sorted = [...items].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i += 1) if (ka[i] !== kb[i]) return ka[i] - kb[i];
    return 0;
  });
  if (sorted.some((el, i) => el !== items[i])) parent.append(...sorted);
}

function applyFilters() {
  const form = new FormData(filtersEl);
  const population = form.get("population");
  const county = form.get("county");
  const need = form.get("need");
  const onlyBeds = form.get("beds") === "1";
  const name = String(form.get("name") || "").trim().toLocaleLowerCase();
  const sort = form.get("sort") || "name";
  const origin = chosenOrigin();
  const facilities = new Map(); // facility id -> { miles, free } of what is shown
  const shown = new Set();
  for (const article of articles()) {
    const facilityOk =
      (!county || article.dataset.county === county) &&
      (!name || article.dataset.name.toLocaleLowerCase().includes(name));
    let visibleRows = 0;
    let free = 0;
    for (const row of article.querySelectorAll("tr[data-unit-id]")) {
      const ok =
        facilityOk &&
        (!population || row.dataset.population === population) &&
        (!need || row.dataset.specialties.split(" ").includes(need)) &&
        (!onlyBeds || Number(row.dataset.free) > 0);
      row.hidden = !ok;
      if (ok) {
        visibleRows += 1;
        free += Number(row.dataset.free);
        shown.add(row.dataset.unitId);
      }
    }
    article.hidden = visibleRows === 0;
    const here = { lat: Number(article.dataset.lat), lon: Number(article.dataset.lon) };
    const miles = origin ? milesBetween(origin, here) : null;
    facilities.set(article.dataset.facilityId, { miles, free });
    const text = miles === null ? "" : ` · ${Math.round(miles)} mi`;
    const mine = `[data-facility-id="${article.dataset.facilityId}"] [data-distance]`;
    for (const el of document.querySelectorAll(mine)) el.textContent = text;
  }
  const lines = [...compactEl.querySelectorAll("li[data-unit-id]")];
  for (const line of lines) line.hidden = !shown.has(line.dataset.unitId);

  const byDistance = sort === "distance" && origin !== null;
  reorder(boardEl, [...articles()], (a) => {
    const f = facilities.get(a.dataset.facilityId);
    const order = Number(a.dataset.order);
    if (sort === "free") return [-f.free, order];
    if (byDistance) return [f.miles, order];
    return [order];
  });
  reorder(compactEl, lines, (line) => {
    const order = Number(line.dataset.order);
    const free = Number(line.dataset.free);
    if (sort === "free") return [-free, order];
    if (byDistance) return [facilities.get(line.dataset.facilityId).miles, -free, order];
    return [order];
  });

  emptyEl.hidden = shown.size > 0 || articles().length === 0;
  updateTotal();
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) {
    if (value && !(key === "sort" && value === "name")) params.set(key, value);
  }
  history.replaceState(null, "", params.size ? `?${params}` : location.pathname);
}

function applyFeed(data) {
  const troubled = data.state === "failing" || data.state === "stopped";
  const mine = `[data-facility-id="${data.facility_id}"] .facility__feed`;
  const holders = document.querySelectorAll(mine);
  for (const holder of holders) {
    holder.hidden = !troubled;
    if (troubled) holder.querySelector(".badge").textContent = `Feed ${data.state}`;
  }
}

function onFrame(frame) {
  const data = frame.data;
  if (data.kind === "unit") applyUnit(data.unit);
  else if (data.kind === "freshness") applyFreshness(data);
  else if (data.kind === "feed") applyFeed(data);
  else if (data.kind === "phone_check") needsReload = true; // "confirmed by phone": redraw
  if (needsReload) {
    location.reload(); // draw the new unit; the fresh page subscribes from its own seq
    return;
  }
  applyFilters();
  refreshTimes();
}

async function snapshot() {
  const response = await fetch("/api/v1/board", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`board snapshot failed: ${response.status}`);
  const board = await response.json();
  for (const facility of board.facilities) for (const unit of facility.units) applyUnit(unit);
  if (needsReload) location.reload();
  applyFilters();
  refreshTimes();
  return board.seq;
}

// On a phone the less used filters start folded, unless one of them is set.
function foldFilters() {
  const set = [...moreEl.querySelectorAll("select, input")].some((el) =>
    el.type === "checkbox" ? el.checked : el.value !== "",
  );
  moreEl.open = !PHONE.matches || set;
}
foldFilters();
PHONE.addEventListener("change", foldFilters);

// Choosing a county to measure from means "nearest first".
nearEl.addEventListener("change", () => {
  if (nearEl.value) sortEl.value = "distance";
});
filtersEl.addEventListener("change", applyFilters);
filtersEl.addEventListener("input", (event) => {
  if (event.target.type === "search") applyFilters(); // the name filter narrows as you type
});
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
