// Compile-time build options, set with `asc --use NAME=1`. The shipped build sets none.
// OUTPOST_NO_WS: leave the WebSocket transport out, so bench/size.ts can measure the
// MQTT-only content that the size targets count (issues 2 and 3).
import { wsSelected } from "./ws/client";

// A constant, so `WEBSOCKET && x` folds away at compile time and nothing of
// assembly/ws (code or data segments) is compiled in when it is false.
const WEBSOCKET: bool = !isDefined(OUTPOST_NO_WS);

@inline export function overWebSocket(): bool {
  return WEBSOCKET && wsSelected();
}
