// Inline checks on the census form, before anything is sent.
for (const row of document.querySelectorAll(".census-table tr[data-unit-id]")) {
  const id = row.dataset.unitId;
  const field = (name) => document.getElementById(`${name}-${id}`);
  const message = document.getElementById(`live-err-${id}`);
  const free = row.querySelector("[data-field=free]");
  const check = () => {
    const staffed = field("staffed").value;
    const occupied = field("occupied").value;
    const blocked = field("blocked").value || "0";
    let problem = "";
    const n = (v) => Number.parseInt(v, 10);
    if ((staffed === "") !== (occupied === "")) problem = "Enter both staffed and occupied.";
    else if (staffed !== "" && (n(staffed) < 0 || n(occupied) < 0 || n(blocked) < 0)) problem = "Counts cannot be negative.";
    else if (staffed !== "" && n(occupied) > n(staffed)) problem = "Occupied cannot exceed staffed.";
    else if (staffed !== "" && n(blocked) > n(staffed) - n(occupied)) problem = "Blocked cannot exceed staffed minus occupied.";
    message.textContent = problem;
    message.hidden = !problem;
    for (const name of ["staffed", "occupied", "blocked"]) {
      if (problem) field(name).setAttribute("aria-invalid", "true");
      else field(name).removeAttribute("aria-invalid");
    }
    if (!problem && staffed !== "") free.textContent = String(n(staffed) - n(occupied) - n(blocked));
  };
  for (const name of ["staffed", "occupied", "blocked"]) field(name).addEventListener("input", check);
}
