// Compile-time build options, set with `asc --use NAME=1`. The shipped build sets none.
// OUTPOST_NO_WS: leave the WebSocket transport out, so bench/size.ts can measure the
// MQTT-only content that the size targets count (issues 2 and 3).
import { wsSelected } from "./ws/client";

@inline export function overWebSocket(): bool {
  return isDefined(OUTPOST_NO_WS) ? false : wsSelected();
}
