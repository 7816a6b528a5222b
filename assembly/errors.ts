// Every error the module can name. Functions return the negated code (< 0);
// hosts map the number to the name with the table in assembly/ABI.md
// (host/abi.ts holds the same table for Node and is checked against this file).
export enum Err {
  None = 0,
  // Framing
  MalformedRemainingLength = 1, // remaining length longer than 4 bytes
  PacketTooLarge = 2, // over the configured maximum packet size
  Truncated = 3, // a length runs past the end of the packet
  TrailingBytes = 4, // bytes left over after the last field
  // Fixed header
  UnknownPacketType = 5,
  ReservedFlags = 6,
  // Fields
  InvalidUtf8 = 7,
  NullCharacter = 8, // U+0000 in a UTF-8 string
  WildcardInTopic = 9, // + or # in a PUBLISH topic
  InvalidQos = 10, // QoS 3
  ZeroPacketId = 11,
  EmptySubscription = 12, // SUBSCRIBE/UNSUBSCRIBE with no topic filters
  DuplicateProperty = 13,
  ForbiddenProperty = 14, // property not allowed in this packet type
  UnknownProperty = 15,
  InvalidPropertyValue = 16,
  InvalidProtocol = 17, // protocol name/level in CONNECT
  InvalidReasonCode = 18,
  InvalidTopic = 19, // empty topic, or malformed filter
  InvalidConnectFlags = 20,
  LimitExceeded = 21, // more properties or items than the view holds
  BufferFull = 22, // output buffer too small
  // Session (client state machine)
  ProtocolViolation = 23, // a packet the client did not expect in this state
  NotConnected = 24,
  OutboxFull = 25,
  InflightFull = 26,
  KeepAliveTimeout = 27,
  ConnectionRefused = 28, // CONNACK with a failure code
  // Lifecycle (JSON-RPC / device exports)
  NotInitialized = 40, // an export called before its *_init
  AlreadyInitialized = 41, // *_init called twice (buffers are allocated once)
}
