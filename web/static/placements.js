// Placement pages: live countdowns to legal deadlines, and regions that refresh
// themselves when placements, referrals or beds change.
import { connectLive, relativeTimes, statusReporter } from "./live.js";

// The placement form: courts of the person's county, and what the age and sex give.
const placementForm = document.getElementById("placement-form");
if (placementForm) {
  const county = placementForm.querySelector("#f-county_fips");
  const court = placementForm.querySelector("#f-court_id");
  const showCourts = () => {
    const options = [...court.options];
    const mine = options.filter((o) => o.dataset.county === county.value);
    for (const option of options) {
      // Keep "none yet", the chosen court, and the county's courts (all when it has none).
      option.hidden =
        mine.length > 0 && option.value !== "" && !option.selected && option.dataset.county !== county.value;
    }
  };
  county.addEventListener("change", showCourts);
  showCourts();

  const BANDS = [
    [12, "child (0-12)"],
    [17, "adolescent (13-17)"],
    [64, "adult (18-64)"],
    [130, "geriatric (65+)"],
  ];
  const GENDERS = {
    male: "men's or mixed units",
    female: "women's or mixed units",
    other: "mixed units only",
    unknown: "mixed units only",
  };
  const SEXES = { male: "Male", female: "Female", other: "Other", unknown: "Unknown" };
  const derived = placementForm.querySelector("#derived-match");
  const age = placementForm.querySelector("#f-age");
  const sex = placementForm.querySelector("#f-sex");
  const describe = () => {
    const parts = [];
    const years = Number.parseInt(age.value, 10);
    if (!Number.isNaN(years) && years >= 0 && years <= 130) {
      const band = BANDS.find(([last]) => years <= last);
      parts.push(`Age ${years}: ${band[1]} units`);
    }
    parts.push(`${SEXES[sex.value] || "Unknown"}: ${GENDERS[sex.value] || GENDERS.unknown}`);
    derived.textContent = `From the person: ${parts.join("; ")}.`;
  };
  age.addEventListener("input", describe);
  sex.addEventListener("change", describe);
}

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

// A facility's referrals page: a new referral changes the tab title and sounds a tone
// every few seconds until someone acknowledges it.
const alertBox = document.getElementById("referral-alert");
const baseTitle = document.title;
let toneTimer = null;
let audio = null;

function tone() {
  try {
    audio = audio || new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.6);
  } catch (error) {
    console.warn("bedboard: cannot play the referral tone", error);
  }
}

function announceReferral(frame) {
  // A message on a referral's thread is not a new referral (the list refreshes for it).
  if (!alertBox || frame.data.status !== "pending" || frame.data.event === "referral_message") return;
  const count = Number(alertBox.dataset.count || "0") + 1;
  alertBox.dataset.count = String(count);
  alertBox.hidden = false;
  alertBox.querySelector("[data-alert-text]").textContent =
    count === 1 ? "A new referral arrived." : `${count} new referrals arrived.`;
  document.title = `(${count}) New referral · ${baseTitle}`;
  document.body.dataset.alerting = "true";
  if (toneTimer === null) {
    tone();
    toneTimer = setInterval(tone, 5000);
  }
}

if (alertBox) {
  alertBox.querySelector("button").addEventListener("click", () => {
    clearInterval(toneTimer);
    toneTimer = null;
    alertBox.hidden = true;
    alertBox.dataset.count = "0";
    document.title = baseTitle;
    delete document.body.dataset.alerting;
  });
}

const region = document.getElementById("live-region");
if (region) {
  const placementId = region.dataset.placementId ? Number(region.dataset.placementId) : null;
  let soonTimer = null;
  let bedsTimer = null;
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
    [...region.querySelectorAll("select, textarea, input:not([type=hidden])")].some(dirty) ||
    region.querySelector("details[data-called][open]") !== null; // a "Called" control in use

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
    // From the position the page was rendered at: only what changed since then refreshes
    // it (and a page that is older than the kept changes takes a snapshot).
    seq: region.dataset.seq ? Number(region.dataset.seq) : null,
    onFrame(frame) {
      if (!relevant(frame)) return;
      if (frame.topic === "board") {
        // Bed counts change often: refresh for them at most every few seconds. A busy
        // board never postpones the refresh for this placement's own changes.
        if (bedsTimer === null) {
          bedsTimer = setTimeout(() => {
            bedsTimer = null;
            refresh();
          }, 3000);
        }
        return;
      }
      clearTimeout(soonTimer);
      soonTimer = setTimeout(refresh, 50);
      if (frame.topic === "referrals") announceReferral(frame);
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
