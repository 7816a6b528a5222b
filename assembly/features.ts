// Compile-time feature flags of the module, set with `asc --use NAME=1` (asconfig.json's
// mqtt311 target sets them; the shipped build/device.wasm sets none). No imports: the
// codec, the client and the device app all read these without pulling each other in.
// OUTPOST_NO_MQTT5: MQTT 3.1.1 only; the protocol key refuses 5 and every MQTT 5 branch
// (properties, reason codes, AUTH) folds away.
// OUTPOST_NO_QOS2: QoS 0 and 1 only; publishing or subscribing at QoS 2 is -InvalidQos, an
// inbound QoS 2 PUBLISH ends the connection (InvalidQos: a subscription never asked for it),
// and the PUBREC/PUBREL/PUBCOMP flows fold away. The device subscribes to rx at QoS 1.
// OUTPOST_STEPWISE: device_poll returns EV_YIELD once a request has arrived and again once it
// is answered, instead of going straight on: receiving, answering and the rest each run in an
// export call of their own, so a board whose engine compiles code into RAM can drop it between
// them and hold one step's code at a time (boards/stm32 DROP_CODE=2).
@inline export const MQTT5: bool = !isDefined(OUTPOST_NO_MQTT5);
@inline export const QOS2: bool = !isDefined(OUTPOST_NO_QOS2);
@inline export const STEPWISE: bool = isDefined(OUTPOST_STEPWISE);
