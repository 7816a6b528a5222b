// Which half of the codec a build holds. The device build (build/device.wasm) has
// the client side only: it decodes what a client receives and encodes what it sends.
// build/codec.wasm (asc --use OUTPOST_BROKER_SIDE=1, for Node's outpost/codec) has
// both. Left-out packets are -UnknownPacketType (assembly/ABI.md, "Codec").
@inline export const BROKER_SIDE: bool = isDefined(OUTPOST_BROKER_SIDE);
