// The packet objects of outpost/codec: mqtt-packet's shape, as its users know it.
export type ProtocolVersion = 3 | 4 | 5;
export type Cmd =
  | "connect"
  | "connack"
  | "publish"
  | "puback"
  | "pubrec"
  | "pubrel"
  | "pubcomp"
  | "subscribe"
  | "suback"
  | "unsubscribe"
  | "unsuback"
  | "pingreq"
  | "pingresp"
  | "disconnect"
  | "auth";

export interface UserProperties {
  [key: string]: string | string[];
}
export interface Properties {
  sessionExpiryInterval?: number;
  willDelayInterval?: number;
  receiveMaximum?: number;
  maximumPacketSize?: number;
  topicAliasMaximum?: number;
  requestResponseInformation?: boolean;
  requestProblemInformation?: boolean;
  userProperties?: UserProperties;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  maximumQoS?: number;
  retainAvailable?: boolean;
  assignedClientIdentifier?: string;
  reasonString?: string;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
  serverKeepAlive?: number;
  responseInformation?: string;
  serverReference?: string;
  topicAlias?: number;
  subscriptionIdentifier?: number | number[];
}
export interface Subscription {
  topic: string;
  qos: number;
  nl?: boolean;
  rap?: boolean;
  rh?: number;
}
export interface Will {
  topic: string;
  payload: Buffer | Uint8Array | string;
  qos?: number;
  retain?: boolean;
  properties?: Properties;
}
/** One MQTT packet, as mqtt-packet shapes it. Decoded packets always carry cmd..payload. */
export interface Packet {
  cmd: Cmd;
  retain?: boolean;
  qos?: number;
  dup?: boolean;
  length?: number;
  topic?: string | null;
  payload?: Buffer | Uint8Array | string | null;
  messageId?: number;
  properties?: Properties;
  reasonCode?: number;
  returnCode?: number;
  sessionPresent?: boolean;
  granted?: number[];
  subscriptions?: Subscription[];
  unsubscriptions?: string[];
  will?: Will;
  clientId?: string;
  protocolId?: string;
  protocolVersion?: number;
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: Buffer | Uint8Array | string;
}
