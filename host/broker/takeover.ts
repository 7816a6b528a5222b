// Closes a device's MQTT connection on an external broker, which the backend cannot reach into: a short-lived
// client on the backend's credentials logs in with the device's client id, which makes the broker close the
// device's connection (a session takeover), and leaves at once with a clean session. For the backends' listener,
// where client ids are not pinned (on a pinned listener the client id would be the backend's username).
import { connectBackendClient, type BrokerTls } from "../rpc/bus.ts";

export async function closeSessionOf(brokerUrl: string, backendPassword: string, clientId: string, tls?: BrokerTls): Promise<void> {
  const client = await connectBackendClient(brokerUrl, backendPassword, { clientId, tls });
  await client.endAsync();
}
