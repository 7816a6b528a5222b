// What the device application (assembly/device/app.ts) does over MQTT, its side of the
// application hooks in assembly/device/transport.ts: a request is a PUBLISH on rx, its reply
// goes where the request said (MQTT 5 Response Topic + Correlation Data) or to tx, telemetry
// is a PUBLISH on telemetry, and a clean stop publishes the retained offline status.
import { CFG_MAX_PACKET, V_PAYLOAD, V_QOS, V_TOPIC, Err } from "../abi";

import { P_CORRELATION_DATA, P_RESPONSE_TOPIC } from "../mqtt/property-table";
import { C } from "../link/config";
import { clientEventArg } from "../link/events";
import { linkPoll } from "../link/supervisor";
import { findProp } from "../mqtt/client";
import { clientMaxOutPacket, clientPublish, clientPublishView } from "../mqtt/outbox";
import { clientTxView } from "../mqtt/send";
import { addProp, clearView, getSlot, setPair, setSlot } from "../mqtt/packet";
import { rpcCutAt, rpcResponseBuffer, rpcResponseTooLarge } from "../rpc/dispatch";
import * as T from "../json/text";
import { ctx, ctxCap, dispatch, isRx, publishText, topic, topicFor, warn, warnIfDropped } from "./app";

// Saves where the answer to the message in `view` goes. Returns the context length.
function saveContext(view: usize): u32 {
  let rt = findProp(view, P_RESPONSE_TOPIC);
  let cd = findProp(view, P_CORRELATION_DATA);
  let tp: usize, tl: u32;
  if (rt) {
    tp = load<u32>(rt, 4);
    tl = load<u32>(rt, 8);
  } else {
    tl = topicFor(T.T_TX);
    tp = topic;
  }
  let cp: usize = cd ? <usize>load<u32>(cd, 4) : 0;
  let cl: u32 = cd ? load<u32>(cd, 8) : 0;
  if (tl + cl + 5 > ctxCap) {
    // Too long to keep: answer on tx, without correlation (the JSON-RPC id still matches it up).
    tl = topicFor(T.T_TX);
    tp = topic;
    cl = 0;
  }
  let q = getSlot(view, V_QOS);
  store<u8>(ctx, <u8>(q > 1 ? 1 : q));
  store<u16>(ctx + 1, <u16>tl);
  memory.copy(ctx + 3, tp, tl);
  store<u16>(ctx + 3 + tl, <u16>cl);
  memory.copy(ctx + 5 + tl, cp, cl);
  return tl + cl + 5;
}

/** deliverReply: publishes the response (respLen > 0 bytes in the RPC response buffer) as the saved context says. */
export function mqttDeliverReply(respLen: i32): void {
  let tl = <u32>load<u16>(ctx + 1);
  let cl = <u32>load<u16>(ctx + 3 + tl);
  let v = clientTxView();
  clearView(v);
  setSlot(v, V_QOS, load<u8>(ctx));
  setPair(v, V_TOPIC, ctx + 3, tl);
  setPair(v, V_PAYLOAD, rpcResponseBuffer(), <u32>respLen);
  if (cl) addProp(v, P_CORRELATION_DATA, <u32>(ctx + 5 + tl), cl);
  let r = clientPublishView(v);
  if (r == -Err.PacketTooLarge) {
    // Over the largest packet the broker (MQTT 5 Maximum Packet Size) or tx takes: a short
    // error with the same id instead, and a warning naming the limit.
    let max = clientMaxOutPacket();
    warn(T.T_REPLY_TOO_LARGE, max); // before the error is written: warn() writes in the response buffer too
    setPair(v, V_PAYLOAD, rpcResponseBuffer(), rpcResponseTooLarge(T.T_PACKET, max));
    r = clientPublishView(v);
  }
  warnIfDropped(r);
}

/**
 * deliverRequest: a message arrived (EV_MESSAGE, or EV_TOO_LARGE when `cut`: the payload is
 * what the client kept of it). A request on rx is answered, or left pending for the host:
 * true if pending. One over the packet limit is answered "Request too large" at once, with
 * its id when the kept bytes hold it.
 */
export function mqttDeliverRequest(now: u32, cut: bool): bool {
  let view = <usize>clientEventArg(0);
  if (!isRx(getSlot(view, V_TOPIC), getSlot(view, V_TOPIC + 1))) return false;
  let p = getSlot(view, V_PAYLOAD);
  let n = getSlot(view, V_PAYLOAD + 1);
  if (cut) rpcCutAt = C(CFG_MAX_PACKET); // answered at once: never pending
  return dispatch(p, n, saveContext(view), now);
}

/** sendNotification: telemetry (n bytes of sys.info's result in the RPC response buffer) on <base>telemetry, QoS 0. */
export function mqttSendNotification(n: u32): i32 {
  return clientPublish(topic, topicFor(T.T_TELEMETRY), rpcResponseBuffer(), n, 0, false);
}

/** publishOffline: the retained offline status before a clean stop (the will covers an unclean one). */
export function mqttPublishOffline(now: u32): void {
  publishText(T.T_STATUS, T.T_OFFLINE, 0, true);
  for (let i = 0; i < 16 && linkPoll(now); i++); // moves it into tx; events now are moot
}
