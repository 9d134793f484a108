// The alert banner: new in-app alerts arrive on the live connection (topic "alerts",
// ids only; the text is read from the API), a short sound plays, and repeats every few
// seconds for a critical alert until someone clicks Acknowledge. Without JavaScript the
// banner and its Acknowledge forms still work (the page lists the alerts).
import { connectLive } from "./live.js";

const banner = document.getElementById("alert-banner");
const REPEAT_MS = 5000;

if (banner instanceof HTMLElement) {
  const list = banner.querySelector(".alert-banner__list");
  const csrf = banner.dataset.csrf || "";
  const played = new Set();
  let audio = null;

  const beep = () => {
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (error) {
      console.warn("bedboard: cannot play the alert sound", error);
    }
  };

  const items = () => Array.from(list.querySelectorAll("[data-alert]"));

  // Critical alerts sound until acknowledged; others once, when they first appear.
  const ring = () => {
    let sound = false;
    for (const item of items()) {
      const id = item.dataset.alert;
      if (item.dataset.critical === "true" || !played.has(id)) sound = true;
      played.add(id);
    }
    banner.hidden = items().length === 0;
    if (sound) beep();
  };

  const acknowledge = async (form, event) => {
    event.preventDefault();
    const id = form.dataset.ack;
    const resp = await fetch(`/api/v1/me/alerts/${id}/acknowledge`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (resp.ok || resp.status === 404) {
      form.closest("[data-alert]")?.remove();
      banner.hidden = items().length === 0;
    } else {
      form.submit(); // let the server answer in words
    }
  };

  const wire = (form) => form.addEventListener("submit", (event) => acknowledge(form, event));
  list.querySelectorAll("form[data-ack]").forEach(wire);

  const render = (alerts) => {
    const known = new Set(items().map((item) => item.dataset.alert));
    for (const alert of alerts) {
      const id = String(alert.id);
      if (known.has(id)) continue;
      const li = document.createElement("li");
      li.className = "alert-banner__item" + (alert.critical ? " alert-banner__item--critical" : "");
      li.dataset.alert = id;
      li.dataset.critical = alert.critical ? "true" : "false";
      const link = document.createElement("a");
      link.href = alert.link_path;
      link.textContent = alert.subject;
      const form = document.createElement("form");
      form.method = "post";
      form.action = `/alerts/${id}/acknowledge`;
      form.className = "inline-form";
      form.dataset.ack = id;
      const token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrf_token";
      token.value = csrf;
      const button = document.createElement("button");
      button.type = "submit";
      button.className = "button button--small";
      button.textContent = "Acknowledge";
      form.append(token, button);
      wire(form);
      li.append(link, " ", form);
      list.prepend(li);
    }
    ring();
  };

  const refresh = async () => {
    const resp = await fetch("/api/v1/me/alerts", { credentials: "same-origin" });
    if (resp.ok) render((await resp.json()).items);
  };

  // Browsers start sound only after the person has interacted with the page.
  document.addEventListener("pointerdown", () => audio?.resume(), { once: true });
  ring();
  setInterval(() => {
    if (items().some((item) => item.dataset.critical === "true")) beep();
  }, REPEAT_MS);

  connectLive({
    topics: ["alerts"],
    seq: Number(banner.dataset.seq || 0),
    onFrame: () => refresh(),
    // Too far behind (or a fresh page): read the alerts again and follow from the
    // position the server names.
    onSnapshot: async (message) => {
      await refresh();
      return Number(message.seq || 0);
    },
    onStatus: () => {},
  });
}
