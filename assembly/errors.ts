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
  BadCredentials = 29, // CONNACK: bad user name or password (3.1.1 code 4, MQTT 5 0x86)
  NotAuthorized = 30, // CONNACK: not authorized (3.1.1 code 5, MQTT 5 0x87)
  // Lifecycle (JSON-RPC / device exports)
  NotInitialized = 40, // an export called before its *_init
  AlreadyInitialized = 41, // *_init called twice (buffers are allocated once)
  // WebSocket (assembly/ws/): EV_CLOSE b carries the HTTP status or the close code
  WsHandshakeRejected = 50, // the upgrade got an HTTP status other than 101 (b = status)
  WsBadHandshake = 51, // a malformed or oversize upgrade response, or no Upgrade/Connection header
  WsBadAccept = 52, // Sec-WebSocket-Accept missing or not the key's digest
  WsMaskedFrame = 53, // a masked frame from the server
  WsFrameTooLarge = 54, // a frame or reassembled message over the maximum
  WsBadOpcode = 55, // an opcode RFC 6455 does not define
  WsReservedBits = 56, // RSV1-3 set (no extension was negotiated)
  WsBadControlFrame = 57, // a fragmented control frame, or one over 125 bytes
  WsBadContinuation = 58, // a continuation with no message started, or a new message inside one
  WsBadCloseCode = 59, // a close frame with a 1-byte body or a code not allowed on the wire
  WsClosed = 60, // the server closed the connection (b = its close code, 1005 when none)
}
