// The live connection: subscribe from a known seq, apply frames in order, reconnect with
// backoff and catch up by itself. Protocol: docs/live-protocol.md.

const RESYNC_CLOSE_CODE = 4000;
const SIGNED_OUT_CLOSE_CODE = 4401;
const MAX_BACKOFF_MS = 15000;

export function connectLive({ topics, seq, onFrame, onSnapshot, onStatus }) {
  let socket = null;
  let lastSeq = seq;
  let attempt = 0;

  const subscribe = () => {
    socket.send(JSON.stringify({ type: "subscribe", topics, since: lastSeq }));
  };

  const open = () => {
    onStatus(attempt === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.addEventListener("open", subscribe);
    socket.addEventListener("message", async (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "subscribed") {
        attempt = 0;
        onStatus("live");
      } else if (message.type === "snapshot_required") {
        onStatus("reconnecting");
        try {
          lastSeq = await onSnapshot(message);
          subscribe();
        } catch (error) {
          console.warn("bedboard: snapshot failed; reconnecting", error);
          socket.close(); // the close handler retries with backoff
        }
      } else if (typeof message.seq === "number" && message.topic) {
        if (message.seq <= lastSeq) return; // already applied
        lastSeq = message.seq;
        onFrame(message);
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === SIGNED_OUT_CLOSE_CODE) {
        onStatus("signed-out");
        return;
      }
      onStatus("reconnecting");
      // A client cut for falling behind (4000) comes straight back and catches up.
      const base = event.code === RESYNC_CLOSE_CODE ? 100 : 500 * 2 ** attempt;
      attempt += 1;
      const delay = Math.min(MAX_BACKOFF_MS, base) * (0.5 + Math.random() / 2);
      setTimeout(open, delay);
    });
  };

  open();
  return {
    get seq() {
      return lastSeq;
    },
    // For operators and tests: drop the connection as a network failure would.
    drop() {
      socket.close();
    },
  };
}

export function statusReporter(element) {
  const labels = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    "signed-out": "Signed out: reload the page",
  };
  return (state) => {
    element.dataset.state = state;
    element.querySelector(".live-status__text").textContent = labels[state] || state;
  };
}

// The users' zone (BEDBOARD_TIMEZONE), so a time written by script reads like the server's.
const ZONE = document.documentElement.dataset.timezone || undefined;
const LOCAL = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE,
  month: "short",
  day: "numeric",
  year: "numeric",
  hour: "numeric",
  minute: "2-digit",
  timeZoneName: "short",
});

export function localTime(iso) {
  return LOCAL.format(new Date(iso));
}

// "12 min ago" in place of absolute times, the local time as a tooltip; refreshed as time passes.
export function relativeTimes(root = document) {
  const update = () => {
    const now = Date.now();
    for (const el of root.querySelectorAll("time[data-relative]")) {
      const minutes = Math.round((now - Date.parse(el.getAttribute("datetime"))) / 60000);
      let text;
      if (minutes < 1) text = "just now";
      else if (minutes < 90) text = `${minutes} min ago`;
      else if (minutes < 48 * 60) text = `${Math.round(minutes / 60)} h ago`;
      else text = `${Math.round(minutes / 1440)} days ago`;
      el.textContent = text;
      el.title = localTime(el.getAttribute("datetime"));
    }
  };
  update();
  setInterval(update, 30000);
  return update;
}
