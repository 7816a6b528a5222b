// The event queue every transport reports through: the supervisor's EV_OPEN/EV_CLOSE
// and the transport's own events (link_poll's result; arguments in the event record).
const EV_WORDS: u32 = 5;
const EV_SLOTS: u32 = 8; // a poll step queues at most 2; the host drains before feeding more
// The block client_init returns (assembly/ABI.md): u32 scratch, scratch capacity and tx,
// fixed from init on, then the last event record. One address instead of a getter export each.
export const info = memory.data(12 + EV_WORDS * 4);
const event = info + 12;
const evq = memory.data(EV_SLOTS * EV_WORDS * 4);
let evHead: u32 = 0;
let evTail: u32 = 0;

/** No event waits: a poll step may run. */
@inline export function quiet(): bool {
  return evHead == evTail;
}

/** An event with arguments a and b (c = d = 0: most events have two at most). */
export function emit(code: u32, a: u32, b: u32): void {
  emitAll(code, a, b, 0, 0);
}
export function emitAll(code: u32, a: u32, b: u32, c: u32, d: u32): void {
  let e = evq + (<usize>(evTail % EV_SLOTS) * EV_WORDS << 2);
  store<u32>(e, code);
  store<u32>(e, a, 4);
  store<u32>(e, b, 8);
  store<u32>(e, c, 12);
  store<u32>(e, d, 16);
  evTail++;
}

/** Moves the oldest queued event into the event record; its code, or 0 (none). */
export function nextEvent(): i32 {
  if (evHead == evTail) {
    store<u32>(event, 0);
    return 0;
  }
  memory.copy(event, evq + (<usize>(evHead % EV_SLOTS) * EV_WORDS << 2), EV_WORDS << 2);
  evHead++;
  return load<u32>(event);
}

/** The last event: u32 code, a, b, c, d. */
export function clientEvent(): usize {
  return event;
}
@inline export function clientEventArg(i: u32): u32 {
  return load<u32>(event + (<usize>(i + 1) << 2));
}
