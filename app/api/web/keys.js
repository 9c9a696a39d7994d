// The keyboard: space plays or pauses, J/K/L step back / pause / play faster (on the player last used), and the
// arrows nudge the selected clip edge by a frame (with shift, by a second). Keys typed into a form stay there.

let player = null; // the <video> (or preview) the keys drive
let nudge = null; // (direction, bySecond) => bool: moves the selected edge; null when none is selected

/** The player the keys drive from now on: anything with play(), pause(), paused, currentTime, playbackRate. */
export function usePlayer(target) { player = target; }

/** What the arrows move from now on (null: nothing). */
export function useNudge(fn) { nudge = fn; }

function typing(target) {
  return target.closest?.("input, textarea, select, [contenteditable=''], [contenteditable='true']");
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const key = event.key;
  if ((key === "ArrowLeft" || key === "ArrowRight") && nudge) {
    if (nudge(key === "ArrowLeft" ? -1 : 1, event.shiftKey)) event.preventDefault();
    return;
  }
  if (!player || !player.isConnected) return;
  // A focused button, link or native player answers space itself.
  if (key === " " && event.target.closest?.("button, a, summary, video")) return;
  if (key === " " || key === "k" || key === "K") {
    event.preventDefault();
    if (key === " " && player.paused) player.play().catch(() => {});
    else player.pause();
    player.playbackRate = 1;
  } else if (key === "j" || key === "J") {
    player.playbackRate = 1;
    player.currentTime = Math.max(0, player.currentTime - 5);
  } else if (key === "l" || key === "L") {
    if (player.paused) {
      player.playbackRate = 1;
      player.play().catch(() => {});
    } else {
      player.playbackRate = Math.min(4, player.playbackRate * 2);
    }
  }
}

export function installKeys() {
  document.addEventListener("keydown", onKey);
}
